package pgsignal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DefaultChannel is the notification channel used when an options struct leaves Channel empty.
const DefaultChannel = "cachedsql_changes"

// funcName and triggerName name the objects Install creates. The function is created in the
// current schema (the first one of search_path); the trigger carries the channel as its argument.
const (
	funcName    = "cachedsql_notify"
	triggerName = "cachedsql_notify"
)

// maxChannel is the longest channel name PostgreSQL keeps (NAMEDATALEN-1); longer ones are truncated
// by LISTEN but not by pg_notify, so they would never match.
const maxChannel = 63

// InstallOptions configures [Install].
type InstallOptions struct {
	// Channel is the notification channel. Default DefaultChannel ("cachedsql_changes").
	Channel string
	// Tables lists the tables to cover, each "table" or "schema.table" as written after FROM.
	// Empty: every ordinary or partitioned table of the schemas in search_path, system schemas
	// excluded.
	Tables []string
}

// channelOf returns the channel to use for name, checking its length.
func channelOf(name string) (string, error) {
	if name == "" {
		return DefaultChannel, nil
	}
	if len(name) > maxChannel {
		return "", fmt.Errorf("pgsignal: channel %q is longer than %d bytes", name, maxChannel)
	}
	return name, nil
}

// funcSQL creates the trigger function. The payload is the quoted table name, which
// cachedsql.Invalidate reads back as the wrapper names tables.
const funcSQL = `CREATE OR REPLACE FUNCTION ` + funcName + `() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	PERFORM pg_notify(TG_ARGV[0], quote_ident(TG_TABLE_NAME));
	RETURN NULL;
END
$fn$`

// listTablesSQL lists the tables of the schemas in search_path, system schemas excluded.
const listTablesSQL = `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))
	AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1, 2`

// Install creates the trigger function and a statement-level trigger on each table of opts, in one
// transaction on db (any connection to the database; a bare one is fine). It is idempotent: running
// it again replaces the function and the triggers of the named tables. It never removes triggers from
// tables not named; use [Uninstall] first to shrink the covered set.
func Install(ctx context.Context, db *sql.DB, opts InstallOptions) (err error) {
	channel, err := channelOf(opts.Channel)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("pgsignal: install: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	tables, err := tablesOf(ctx, tx, opts.Tables)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, funcSQL); err != nil {
		return fmt.Errorf("pgsignal: install: create function: %w", err)
	}
	for _, t := range tables {
		if err := installTrigger(ctx, tx, t, channel); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("pgsignal: install: %w", err)
	}
	return nil
}

// installTrigger replaces the trigger on table, an identifier already quoted.
func installTrigger(ctx context.Context, tx *sql.Tx, table, channel string) error {
	drop := "DROP TRIGGER IF EXISTS " + triggerName + " ON " + table
	create := "CREATE TRIGGER " + triggerName + " AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON " + table +
		" FOR EACH STATEMENT EXECUTE FUNCTION " + funcName + "(" + quoteLiteral(channel) + ")"
	for _, q := range []string{drop, create} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("pgsignal: install: trigger on %s: %w", table, err)
		}
	}
	return nil
}

// tablesOf returns the quoted names of the tables to cover: names, or those of search_path.
func tablesOf(ctx context.Context, tx *sql.Tx, names []string) ([]string, error) {
	if len(names) > 0 {
		quoted := make([]string, len(names))
		for i, n := range names {
			if strings.TrimSpace(n) == "" {
				return nil, errors.New("pgsignal: install: empty table name")
			}
			quoted[i] = pgx.Identifier(strings.Split(strings.TrimSpace(n), ".")).Sanitize()
		}
		return quoted, nil
	}
	rows, err := tx.QueryContext(ctx, listTablesSQL)
	if err != nil {
		return nil, fmt.Errorf("pgsignal: install: list tables: %w", err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			return nil, fmt.Errorf("pgsignal: install: list tables: %w", err)
		}
		tables = append(tables, pgx.Identifier{schema, name}.Sanitize())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgsignal: install: list tables: %w", err)
	}
	return tables, nil
}

// Uninstall drops the trigger function that [Install] created in the current schema and, with it,
// every trigger that calls it, on whichever tables they are. Running it when nothing is installed is
// not an error.
func Uninstall(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "DROP FUNCTION IF EXISTS "+funcName+"() CASCADE"); err != nil {
		return fmt.Errorf("pgsignal: uninstall: %w", err)
	}
	return nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
