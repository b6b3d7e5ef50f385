package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

// runInvalidations prints the most recent invalidations of every database in the namespace (or of the
// one -db names), newest first, from the logs that the wrapper writes with each invalidation (see
// [cachedsql.Admin.Invalidations]).
func runInvalidations(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("invalidations", flag.ContinueOnError)
	fs.SetOutput(out)
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db) the application caches in")
	ns := fs.String("namespace", "", "the application's key namespace (default cachedsql)")
	db := fs.String("db", "", "only the database with this id (default: every database)")
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
	invs, err := cachedsql.NewAdmin(rdb, *ns).Invalidations(ctx, cachedsql.DatabaseID(*db), *n)
	if err != nil {
		return err
	}
	if len(invs) == 0 {
		fmt.Fprintf(out, "no invalidations logged under %s*\n", keying.NewLayout(*ns, "").KindPrefix(keying.KeyLog))
		return nil
	}
	for _, e := range invs {
		rows := ""
		if e.Rows > 0 {
			rows = fmt.Sprintf(" (%d rows)", e.Rows)
		}
		fmt.Fprintf(out, "%s  db %s  %s%s  %s\n", e.Time.Format(time.RFC3339Nano), e.Database,
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
