package main

import (
	"bytes"
	"context"
	"fmt"
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
		rdb := newRedis(testenv.RedisAddr(t))
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

// checkWay checks the lines one way of opening sqlx printed: two reads (a miss and a hit), the fresh
// read after the write, and the counters (every read of the second round was a hit).
func checkWay(t *testing.T, out, way string) {
	t.Helper()
	before := way + ": Dune has 2 copies; 3 books; Emma and Ulysses\n"
	want := before + before +
		way + ", after lending Dune: Dune has 1 copies; 3 books; Emma and Ulysses\n" +
		fmt.Sprintf("%s: hits=3 misses=6\n", way)
	if !strings.Contains(out, want) {
		t.Errorf("output lacks\n%s\ngot:\n%s", want, out)
	}
}
