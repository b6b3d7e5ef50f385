package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestDemo: on SQLite and process memory, the demo's labels are what the cache's counters say: a first
// read misses and is stored, the next ones hit, a write makes the next read miss and return fresh data,
// and a write-through keeps the written row a hit.
func TestDemo(t *testing.T) {
	out := cmd(t, "demo", "-rows", "200").ok(t)
	for _, w := range []string{
		"cachedsql demo: SQLite file ",
		"Seeded 1000 customers and 200 orders.",
		"(miss, stored)\n",
		"(median of 25: 25 hits)",
		"total for customer 7:        6  (miss, stored, then hit)\n",
		"total right after:           1006  (fresh: miss, stored)\n",
		"('Ada Lovelace', 42): 1 entry written through\n",
		`GetCustomer id=42 right after: "Ada Lovelace" (hit)`,
		`GetCustomer id=43 right after: "customer 43"  (hit)`,
		"5. Stats\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestDemoRedis: with -redis, the demo caches in Redis under a namespace of its own, which it deletes
// at the end.
func TestDemoRedis(t *testing.T) {
	out := cmd(t, "demo", "-rows", "200", "-redis", redisURL(t)).ok(t)
	for _, w := range []string{" + Redis\n", "(fresh: "} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	assertNoDemoKeys(t)
}

// TestDemoPostgres: with -pg, the demo runs on PostgreSQL, and drops its tables at the end.
func TestDemoPostgres(t *testing.T) {
	dsn := testPostgres(t)
	out := cmd(t, "demo", "-rows", "200", "-pg", dsn).ok(t)
	for _, w := range []string{"cachedsql demo: PostgreSQL + in-memory store\n", "(miss, stored)", "(fresh: miss, stored)"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	assertNoDemoTables(t, dsn)
}

// assertNoDemoTables fails t if the demo left tables in the schema of dsn.
func assertNoDemoTables(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'demo_%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d demo tables left", n)
	}
}

// assertNoDemoKeys fails t if the demo left keys in the test Redis.
func assertNoDemoKeys(t *testing.T) {
	t.Helper()
	keys, err := testRedis(t).Keys(context.Background(), fmt.Sprintf("cachedsql-demo-%d:*", os.Getpid())).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		t.Errorf("the demo left %d keys, such as %s", len(keys), keys[0])
	}
}

// TestDemoUnreachableRedis: pointed at a Redis that does not answer, the demo says so, and its reads
// are shown bypassing the cache.
func TestDemoUnreachableRedis(t *testing.T) {
	out := cmd(t, "demo", "-rows", "10", "-redis", "redis://127.0.0.1:1/0").ok(t)
	for _, w := range []string{"Redis is unreachable (", "+ Redis (unreachable)\n", "(bypass: store unavailable", "bypasses: store unavailable",
		"(fresh: bypass: store unavailable)"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	for _, hit := range []string{"(hit", " hit)", "25 hits", "then hit"} {
		if strings.Contains(out, hit) {
			t.Errorf("output shows a hit (%q):\n%s", hit, out)
		}
	}
}

// TestDemoInterrupted: an interrupted demo exits with status 130 and leaves no temporary file, no Redis
// key and no PostgreSQL table behind.
func TestDemoInterrupted(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.MkdirTemp's folder
	interrupt := func(t *testing.T, step string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		old := demoStep
		demoStep = func(s string) {
			if s == step {
				cancel()
			}
		}
		defer func() { demoStep = old }()
		r := cmdCtx(t, ctx, nil, "", append([]string{"demo", "-rows", "100"}, args...)...)
		r.want(t, exitInterrupted, "cachedsql demo: interrupted")
	}
	t.Run("sqlite", func(t *testing.T) {
		interrupt(t, "seeded", "-redis", redisURL(t))
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Errorf("left in the temporary folder: %v", left)
		}
		assertNoDemoKeys(t)
	})
	t.Run("opened", func(t *testing.T) {
		interrupt(t, "opened")
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Errorf("left in the temporary folder: %v", left)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testPostgres(t)
		interrupt(t, "seeded", "-pg", dsn)
		assertNoDemoTables(t, dsn)
	})
}
