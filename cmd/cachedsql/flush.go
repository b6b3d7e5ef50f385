package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// flushDelBatch is how many keys one DEL of `flush -all` removes.
const flushDelBatch = 500

// runFlush empties a shared cache: -all deletes every key of the namespace (entries, tokens, logs,
// hot sets), -rule deletes the live entries filled under one rule, and -table replaces one table's
// generation token for one database, as a write to it through the wrapper would, so that every
// cached read of the table misses from then on.
func runFlush(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("flush", flag.ContinueOnError)
	fs.SetOutput(out)
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db) the application caches in")
	ns := fs.String("namespace", "", "the application's key namespace (default cachedsql)")
	all := fs.Bool("all", false, "delete every key of the namespace")
	rule := fs.String("rule", "", "delete the cached results of the rule with this name")
	table := fs.String("table", "", "invalidate this table of the database named by -dsn")
	drv := fs.String("driver", "pgx", "database/sql driver name of -dsn (pgx or sqlite3)")
	dsn := fs.String("dsn", "", "data source name of the database (any spelling that reaches it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*all, *rule != "", *table != ""} {
		if set {
			modes++
		}
	}
	if *redisURL == "" || modes != 1 || (*table != "") != (*dsn != "") {
		fs.Usage()
		return errors.New("flush: -redis is required, with one of -all, -rule, or -table and -dsn")
	}
	rdb, err := cliRedis("flush", *redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	switch {
	case *all:
		return flushAll(ctx, rdb, *ns, out)
	case *rule != "":
		return flushRule(ctx, rdb, *ns, *rule, out)
	}
	return flushTable(ctx, rdb, *ns, *drv, *dsn, *table, out)
}

// flushAll deletes every key of namespace ns.
func flushAll(ctx context.Context, rdb *redis.Client, ns string, out io.Writer) error {
	prefix := keying.NewLayout(ns, "").Prefix()
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

// flushRule deletes the entries listed in the time-bucketed sets "<ns>:k:<rule>:<bucket>" that the
// library keeps for each rule (see ruleIndex in the root package), and the sets themselves.
func flushRule(ctx context.Context, rdb *redis.Client, ns, rule string, out io.Writer) error {
	prefix := keying.NewLayout(ns, "").Prefix() + "k:" + rule + ":"
	sets, err := scanKeys(ctx, rdb, prefix, "set")
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	var n int64
	for _, set := range sets {
		if !isBucket(set[len(prefix):]) { // the set of a rule named "<rule>:..."
			continue
		}
		deleted, err := flushSet(ctx, rdb, set, keying.NewLayout(ns, "").Prefix())
		n += deleted
		if err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	fmt.Fprintf(out, "deleted %d entries of rule %s\n", n, rule)
	return nil
}

// isBucket reports whether s is a time bucket number: decimal digits.
func isBucket(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// flushSet deletes the members of the set at key that start with prefix (the namespace's: a member
// naming a key outside it was not put there by the library and is never deleted), page by page with
// SSCAN, then the set, and returns how many members existed and were deleted.
func flushSet(ctx context.Context, rdb *redis.Client, key, prefix string) (int64, error) {
	var n int64
	var cursor uint64
	for {
		page, next, err := rdb.SScan(ctx, key, cursor, "", flushDelBatch).Result()
		if err != nil {
			return n, fmt.Errorf("sscan: %w", err)
		}
		page = slices.DeleteFunc(page, func(m string) bool { return !strings.HasPrefix(m, prefix) })
		if len(page) > 0 {
			deleted, err := rdb.Del(ctx, page...).Result()
			n += deleted
			if err != nil {
				return n, fmt.Errorf("delete: %w", err)
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	if err := rdb.Del(ctx, key).Err(); err != nil {
		return n, fmt.Errorf("delete: %w", err)
	}
	return n, nil
}

// flushTable replaces the generation token of table in the database that drv and dsn name, and the
// tokens of its row entries under every key column set registered in the store.
func flushTable(ctx context.Context, rdb *redis.Client, ns, drv, dsn, table string, out io.Writer) error {
	if keying.Private(drv, dsn) {
		return fmt.Errorf("flush: %s is private to one process: its cache cannot be reached", dsn)
	}
	// The identity comes from the database itself, as the caching processes read it.
	id, err := cachedsql.ResolveIdentity(ctx, drv, dsn)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	l := keying.NewLayout(ns, id)
	name := keying.TableName(table)
	st := store.NewRedis(rdb)
	sets, err := st.IndexMembers(ctx, l.Keysets(name))
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	keys := []string{l.Token(name)}
	for _, m := range sets {
		if cols, ok := keying.ParseKeysetName(m); ok {
			keys = append(keys, l.KeyedToken(name, cols))
		}
	}
	entry := store.LogEntry{Time: time.Now().UTC(), Cause: "cachedsql flush -table", Tables: []string{name}}
	if err := st.BumpAndLog(ctx, keys, l.Log(), entry); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	fmt.Fprintf(out, "invalidated table %s (%s)\n", name, l.Token(name))
	return nil
}
