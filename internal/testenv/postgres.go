package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// defaultPostgresDSN is used when CACHEDSQL_TEST_PG is unset.
const defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// pgEnv resolves the process-wide PostgreSQL once: the configured DSN, or a
// throwaway cluster when nothing answers there.
var pgEnv struct {
	// mu guards the fields below; it is held during resolution so that
	// parallel tests wait for one resolution.
	mu       sync.Mutex
	resolved bool
	dsn      string // usable base DSN, "" if none
	msg      string // why there is none
}

// PostgresBase returns the DSN of a reachable PostgreSQL database:
// CACHEDSQL_TEST_PG (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable),
// or a throwaway cluster this process started when nothing answers there.
// Without either it skips t with a message saying how to start PostgreSQL, or
// fails t when [InCI]. Tests sharing this database must not collide; most
// want [Postgres] instead.
func PostgresBase(t testing.TB) string {
	t.Helper()
	pgEnv.mu.Lock()
	if !pgEnv.resolved {
		pgEnv.dsn, pgEnv.msg = resolvePostgres()
		pgEnv.resolved = true
	}
	dsn, msg := pgEnv.dsn, pgEnv.msg
	pgEnv.mu.Unlock()
	if dsn == "" {
		skipOrFail(t, msg)
	}
	return dsn
}

// Postgres returns a DSN for the database of [PostgresBase] whose
// search_path is a new schema "t_<16 hex digits>" of its own (as the
// search_path connection parameter, which pgx sends at startup). The schema
// is dropped with CASCADE when t ends. It skips or fails t like
// [PostgresBase].
func Postgres(t testing.TB) string {
	t.Helper()
	base := PostgresBase(t)
	schema := "t_" + randomHex(8)
	if err := execPostgres(base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testenv: create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := execPostgres(base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("testenv: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(base, schema)
}

// withSearchPath returns dsn with its search_path set to schema. dsn is a URL
// or a keyword/value string.
func withSearchPath(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// execPostgres runs one statement on a new connection to dsn, in a few seconds.
func execPostgres(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// pingPostgres checks that dsn accepts a connection within probeTimeout.
func pingPostgres(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// resolvePostgres finds or starts the process-wide PostgreSQL and returns
// its base DSN, or "" and a message saying why there is none.
func resolvePostgres() (dsn, msg string) {
	dsn = os.Getenv("CACHEDSQL_TEST_PG")
	if dsn == "" {
		dsn = defaultPostgresDSN
	}
	probeErr := pingPostgres(dsn)
	if probeErr == nil {
		return dsn, ""
	}
	c, err := startCluster()
	if err != nil {
		return "", postgresHint(dsn, errors.Join(probeErr, err))
	}
	atExit(c.stop)
	return c.dsn, ""
}

// postgresHint says why no PostgreSQL is available and how to start one.
func postgresHint(dsn string, cause error) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		dsn = u.Redacted()
	} else {
		dsn = "the configured server"
	}
	return fmt.Sprintf("testenv: no PostgreSQL at %s (%v); start one with trust auth for user postgres\n"+
		"and a database named test, for example\n"+
		"\tpg_ctlcluster <version> main start && createdb -h 127.0.0.1 -U postgres test\n"+
		"or install initdb and pg_ctl so a throwaway cluster can be started,\n"+
		"or set CACHEDSQL_TEST_PG=postgres://user@host:port/db?sslmode=disable",
		strings.TrimSpace(dsn), cause)
}
