package main

import (
	"context"
	"fmt"
	"io"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

const flushAbout = `
Flush empties a shared cache through cachedsql.Admin: -all deletes every key of the namespace (entries,
tokens, logs, hot sets), -rule deletes the live entries filled under one rule (in every database, or in
the one -db names), and -table replaces one table's generation tokens for the database that -dsn
reaches, as a write to it through the wrapper would, so that every cached read of the table misses
from then on.`

// flush empties a shared cache, or a part of it.
func (c *cli) flush(ctx context.Context, args []string) error {
	fs := c.flags("flush", flushAbout)
	fs.String(redisFlag.flag, "", redisUsage)
	fs.String(namespaceFlag.flag, "", namespaceUsage)
	all := fs.Bool("all", false, "delete every key of the namespace")
	rule := fs.String("rule", "", "delete the cached results of the rule with this name")
	db := fs.String("db", "", "with -rule: only in the database with this id (as hot and invalidations show it)")
	table := fs.String("table", "", "invalidate this table of the database named by -dsn")
	drv := fs.String("driver", "pgx", "database/sql driver of -dsn: pgx or sqlite3")
	dsn := fs.String("dsn", "", "data source name of the database (any spelling that reaches it)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*all, *rule != "", *table != ""} {
		if set {
			modes++
		}
	}
	switch {
	case modes != 1:
		return usagef("give one of -all, -rule R or -table T")
	case (*table != "") != (*dsn != ""):
		return usagef("-table and -dsn go together")
	case *db != "" && *rule == "":
		return usagef("-db goes with -rule")
	}
	o, admin, err := c.adminOf(fs, redisFlag, namespaceFlag)
	if err != nil {
		return err
	}
	defer o.Redis.Close()
	out := c.stdout
	switch {
	case *all:
		n, err := admin.Flush(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "deleted %d keys under %s*\n", n, keying.NewLayout(o.Namespace, "").Prefix())
		return nil
	case *rule != "":
		n, err := admin.FlushRule(ctx, cachedsql.DatabaseID(*db), *rule)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "deleted %d entries of rule %s\n", n, *rule)
		return nil
	}
	if err := checkDriver(*drv); err != nil {
		return err
	}
	return flushTable(ctx, admin, *drv, *dsn, *table, out)
}

// flushTable replaces the generation tokens of table (and of its row entries) in the database that drv
// and dsn name.
func flushTable(ctx context.Context, admin *cachedsql.Admin, drv, dsn, table string, out io.Writer) error {
	if keying.Private(drv, dsn) {
		return fmt.Errorf("flush: %s is private to one process: its cache cannot be reached", dsn)
	}
	// The identity comes from the database itself, as the caching processes read it.
	id, err := cachedsql.ResolveIdentity(ctx, drv, dsn)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := admin.InvalidateTables(ctx, id, table); err != nil {
		return err
	}
	fmt.Fprintf(out, "invalidated table %s of database %s\n", keying.TableName(table), cachedsql.DatabaseIDOf(id))
	return nil
}
