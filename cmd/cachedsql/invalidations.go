package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// scanCount is the COUNT hint of each SCAN call of the invalidations and flush commands.
const scanCount = 1000

// loggedInvalidation is one entry of a database's invalidation log.
type loggedInvalidation struct {
	db string // db8: the database part of the log key
	store.LogEntry
}

// runInvalidations prints the most recent invalidations of every database in the namespace, newest
// first, from the capped lists (<ns>:log:<db8>) that the wrapper writes with each invalidation.
func runInvalidations(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("invalidations", flag.ContinueOnError)
	fs.SetOutput(out)
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db) the application caches in")
	ns := fs.String("namespace", "", "the application's key namespace (default cachedsql)")
	n := fs.Int("n", 20, "invalidations to list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *redisURL == "" || *n <= 0 {
		fs.Usage()
		return errors.New("invalidations: -redis is required, and -n must be positive")
	}
	rdb, err := cliRedis("invalidations", *redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	prefix := keying.NewLayout(*ns, "").Prefix() + "log:"
	logs, err := scanKeys(ctx, rdb, prefix, "list")
	if err != nil {
		return fmt.Errorf("invalidations: %w", err)
	}
	st := store.NewRedis(rdb)
	var all []loggedInvalidation
	for _, key := range logs {
		entries, err := st.RecentLog(ctx, key, *n)
		if err != nil {
			return fmt.Errorf("invalidations: %w", err)
		}
		for _, e := range entries {
			all = append(all, loggedInvalidation{db: strings.TrimPrefix(key, prefix), LogEntry: e})
		}
	}
	if len(all) == 0 {
		fmt.Fprintf(out, "no invalidations logged under %s*\n", prefix)
		return nil
	}
	// Each list is newest first; a stable sort keeps that order among equal times.
	slices.SortStableFunc(all, func(a, b loggedInvalidation) int { return b.Time.Compare(a.Time) })
	for _, e := range all[:min(*n, len(all))] {
		rows := ""
		if e.Rows > 0 {
			rows = fmt.Sprintf(" (%d rows)", e.Rows)
		}
		fmt.Fprintf(out, "%s  db %s  %s%s  %s\n", e.Time.Format(time.RFC3339Nano), e.db,
			strings.Join(e.Tables, ","), rows, e.Cause)
	}
	return nil
}

// cliRedis returns a client for the Redis URL of a command's -redis flag.
func cliRedis(cmd, url string) (*redis.Client, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%s: -redis: %w", cmd, err)
	}
	ro.ContextTimeoutEnabled = true
	return redis.NewClient(ro), nil
}

// scanKeys returns the keys that start with prefix, sorted and without repeats; typ, when not
// empty, restricts them to one Redis type.
func scanKeys(ctx context.Context, rdb *redis.Client, prefix, typ string) ([]string, error) {
	var keys []string
	var cursor uint64
	for {
		page, next, err := rdb.ScanType(ctx, cursor, escapeGlob(prefix)+"*", scanCount, typ).Result()
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		keys = append(keys, page...)
		if next == 0 {
			break
		}
		cursor = next
	}
	slices.SortFunc(keys, cmp.Compare[string])
	return slices.Compact(keys), nil // SCAN may return a key twice
}
