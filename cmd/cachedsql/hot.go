package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// hotScanCount is the COUNT hint of each SCAN call of runHot.
const hotScanCount = 1000

// runHot lists the hot entries that refresh-ahead rules report to Redis: for each rule's sorted set
// (<ns>:h:<rule>), its top members, highest score first. A member is an entry key, an opaque hash
// printed as it is; a score is about the entry's hits over the last two seconds, summed over every
// process sharing the store.
func runHot(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hot", flag.ContinueOnError)
	fs.SetOutput(out)
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db) the application caches in")
	ns := fs.String("namespace", "", "the application's key namespace (default cachedsql)")
	n := fs.Int("n", 20, "members to list per rule")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *redisURL == "" || *n <= 0 {
		fs.Usage()
		return errors.New("hot: -redis is required, and -n must be positive")
	}
	rdb, err := cliRedis("hot", *redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	prefix := keying.NewLayout(*ns, "").Prefix() + "h:"
	sets, err := hotSets(ctx, rdb, prefix)
	if err != nil {
		return err
	}
	if len(sets) == 0 {
		fmt.Fprintf(out, "no hot sets under %s*\n", prefix)
		return nil
	}
	st := store.NewRedis(rdb)
	for _, key := range sets {
		top, err := st.TopHot(ctx, key, *n)
		if err != nil {
			return fmt.Errorf("hot: %w", err)
		}
		printHot(out, strings.TrimPrefix(key, prefix), key, top)
	}
	return nil
}

// hotSets returns the keys of the sorted sets whose key starts with prefix, sorted.
func hotSets(ctx context.Context, rdb *redis.Client, prefix string) ([]string, error) {
	var keys []string
	var cursor uint64
	for {
		page, next, err := rdb.ScanType(ctx, cursor, escapeGlob(prefix)+"*", hotScanCount, "zset").Result()
		if err != nil {
			return nil, fmt.Errorf("hot: scan: %w", err)
		}
		keys = append(keys, page...)
		if next == 0 {
			break
		}
		cursor = next
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil // SCAN may return a key twice
}

// printHot writes one rule's hot set: a header line, then one line per member.
func printHot(out io.Writer, rule, key string, top []store.HotMember) {
	fmt.Fprintf(out, "rule %s (%s): %d shown\n", rule, key, len(top))
	for _, m := range top {
		fmt.Fprintf(out, "  %10s  %s\n", strconv.FormatFloat(m.Score, 'g', 6, 64), m.Member)
	}
}

// escapeGlob escapes the characters that SCAN MATCH reads as a pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for i := range len(s) {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
