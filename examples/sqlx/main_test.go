package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestSqlxExample(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		out := runExample(t, config{namespace: "unused"}, nil)
		checkWay(t, out, "sqlite, NewDb")
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
		sqlx.BindDriver(cfg.pgDriver, sqlx.DOLLAR)
		out := runExample(t, cfg, rdb)
		for _, way := range []string{"sqlite, NewDb", "postgres, NewDb", "postgres, Register"} {
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

// checkWay checks the lines one way of opening sqlx printed: two rounds of reads, the fresh read after
// the write, and the counters. On the in-process store (SQLite) the first round misses and the second
// hits; on Redis, a reply slower than StoreTimeout (50ms by default) may turn a hit into a bypass, so
// only the total of the nine reads is known.
func checkWay(t *testing.T, out, way string) {
	t.Helper()
	before := way + ": Dune has 2 copies; 3 books; Emma and Ulysses\n"
	want := before + before +
		way + ", after lending Dune: Dune has 1 copies; 3 books; Emma and Ulysses\n"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks\n%s\ngot:\n%s", want, out)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(way) + `: hits=(\d+) misses=(\d+) bypasses=(\d+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no counters:\n%s", way, out)
	}
	hits, _ := strconv.Atoi(m[1])
	misses, _ := strconv.Atoi(m[2])
	bypasses, _ := strconv.Atoi(m[3])
	if strings.HasPrefix(way, "sqlite") && (hits != 3 || misses != 6 || bypasses != 0) {
		t.Errorf("%s: hits=%d misses=%d bypasses=%d, want 3, 6 and 0", way, hits, misses, bypasses)
	}
	if hits+misses+bypasses != 9 {
		t.Errorf("%s: hits=%d misses=%d bypasses=%d, want 9 reads in all", way, hits, misses, bypasses)
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
