package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// flushDelBatch is how many keys one DEL of `flush -all` removes.
const flushDelBatch = 500

// runFlush empties a shared cache: -all deletes every key of the namespace (entries, tokens, logs,
// hot sets), and -table replaces one table's generation token for one database, as a write to it
// through the wrapper would, so that every cached read of the table misses from then on.
func runFlush(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("flush", flag.ContinueOnError)
	fs.SetOutput(out)
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db) the application caches in")
	ns := fs.String("namespace", "", "the application's key namespace (default cachedsql)")
	all := fs.Bool("all", false, "delete every key of the namespace")
	table := fs.String("table", "", "invalidate this table of the database named by -dsn")
	drv := fs.String("driver", "pgx", "database/sql driver name of -dsn (pgx or sqlite3)")
	dsn := fs.String("dsn", "", "data source name of the database, as the application opens it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *redisURL == "" || *all == (*table != "") || (*table != "") != (*dsn != "") {
		fs.Usage()
		return errors.New("flush: -redis is required, with either -all or -table and -dsn")
	}
	rdb, err := cliRedis("flush", *redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if *all {
		prefix := keying.NewLayout(*ns, "").Prefix()
		keys, err := scanKeys(ctx, rdb, prefix, "")
		if err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		for len(keys) > 0 {
			batch := keys[:min(flushDelBatch, len(keys))]
			if err := rdb.Del(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("flush: delete: %w", err)
			}
			keys = keys[len(batch):]
		}
		fmt.Fprintf(out, "deleted the keys under %s*\n", prefix)
		return nil
	}
	if keying.Private(*drv, *dsn) {
		return fmt.Errorf("flush: %s is private to one process: its cache cannot be reached", *dsn)
	}
	l := keying.NewLayout(*ns, cachedsql.IdentityOf(*drv, *dsn))
	name := keying.TableName(*table)
	entry := store.LogEntry{Time: time.Now().UTC(), Cause: "cachedsql flush -table", Tables: []string{name}}
	if err := store.NewRedis(rdb).BumpAndLog(ctx, []string{l.Token(name)}, l.Log(), entry); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	fmt.Fprintf(out, "invalidated table %s (%s)\n", name, l.Token(name))
	return nil
}
