package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestGormExample(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		out := runExample(t, config{namespace: "unused"}, nil)
		checkWay(t, out, "sqlite, Conn")
		if !strings.Contains(out, "postgres: skipped") {
			t.Errorf("output does not say PostgreSQL was skipped:\n%s", out)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		cfg := config{
			pgDSN:     testenv.Postgres(t),
			namespace: strings.TrimSuffix(testenv.Prefix(t), ":"),
		}
		rdb, err := newRedis("redis://" + testenv.RedisAddr(t) + "/0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		// As main does, under a name of this test's own (a name can be registered only once).
		cfg.pgDriver = "pgx+cache+" + cfg.namespace
		cachedsql.Register(cfg.pgDriver, stdlib.GetDefaultDriver(), options(rdb, cfg.namespace))
		out := runExample(t, cfg, rdb)
		for _, way := range []string{"sqlite, Conn", "postgres, Conn", "postgres, DriverName"} {
			checkWay(t, out, way)
		}
	})
}

func runExample(t *testing.T, cfg config, rdb *redis.Client) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), &out, cfg, rdb); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	return out.String()
}

// checkWay checks the lines one way of opening GORM printed: the posts, the fresh read after the
// update, and the counters: some hits on the in-process store (SQLite); on Redis, a reply slower than
// StoreTimeout (50ms by default) may turn a hit into a bypass, which the counters then show.
func checkWay(t *testing.T, out, way string) {
	t.Helper()
	for _, want := range []string{way + ": ann has 2 posts\n" + way + ": ann has 2 posts\n", way + ": after the update, the name read is ann2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	counters := `: hits=\d+ misses=\d+ bypasses=\d+\n`
	if strings.HasPrefix(way, "sqlite") {
		counters = `: hits=[1-9]\d* misses=\d+ bypasses=\d+\n`
	}
	if !regexp.MustCompile(regexp.QuoteMeta(way) + counters).MatchString(out) {
		t.Errorf("%s: no counters matching %s:\n%s", way, counters, out)
	}
}

// TestInterrupted: an interrupted run leaves no temporary file.
func TestInterrupted(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, new(bytes.Buffer), config{namespace: "unused"}, nil); err == nil {
		t.Error("run on a cancelled context: no error")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in the temporary folder: %v", left)
	}
}
