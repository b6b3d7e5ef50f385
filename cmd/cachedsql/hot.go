package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

// runHot lists the hot entries that refresh-ahead and write-through rules report to Redis (see
// [cachedsql.Admin.Hot]): for each rule and database, the top members of its sorted set, highest score
// first. A member is an entry key, an opaque hash printed as it is; a score is about the entry's hits
// over the last two seconds, summed over every process sharing the store.
func runHot(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hot", flag.ContinueOnError)
	fs.SetOutput(out)
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db) the application caches in")
	ns := fs.String("namespace", "", "the application's key namespace (default cachedsql)")
	db := fs.String("db", "", "only the database with this id (default: every database)")
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
	sets, err := cachedsql.NewAdmin(rdb, *ns).Hot(ctx, cachedsql.DatabaseID(*db), *n)
	if err != nil {
		return err
	}
	if len(sets) == 0 {
		fmt.Fprintf(out, "no hot sets under %s*\n", keying.NewLayout(*ns, "").KindPrefix(keying.KeyHot))
		return nil
	}
	for _, s := range sets {
		printHot(out, s)
	}
	return nil
}

// printHot writes one hot set: a header line, then one line per member.
func printHot(out io.Writer, s cachedsql.HotSet) {
	fmt.Fprintf(out, "rule %s  db %s  (%s): %d shown\n", s.Rule, s.Database, s.Key, len(s.Entries))
	for _, e := range s.Entries {
		fmt.Fprintf(out, "  %10s  %s\n", strconv.FormatFloat(e.Score, 'g', 6, 64), e.Key)
	}
}
