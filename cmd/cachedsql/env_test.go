package main

// The command's tests reach the servers that the library's tests use (CACHEDSQL_TEST_REDIS and
// CACHEDSQL_TEST_PG, with the same loopback defaults) through public packages only: the command imports
// no internal package, and neither do its tests. Without a server they skip, or fail in CI (CI=true).

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// probeTimeout bounds the check that a server answers, and each call of a cleanup.
const probeTimeout = 5 * time.Second

// skipOrFail skips t with msg, or fails it in CI.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(msg + " (CI=true: failing instead of skipping)")
	}
	t.Skip(msg)
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// redisAddr is the test Redis, checked once.
var redisAddr = sync.OnceValues(func() (string, error) {
	addr := envOr("CACHEDSQL_TEST_REDIS", "127.0.0.1:6379")
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	return addr, c.Ping(ctx).Err()
})

// testRedis returns a client of the test Redis, closed when t ends.
func testRedis(t testing.TB) *redis.Client {
	t.Helper()
	addr, err := redisAddr()
	if err != nil {
		skipOrFail(t, "no Redis at "+addr+" (set CACHEDSQL_TEST_REDIS=host:port): "+err.Error())
	}
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// redisURL returns the URL of the test Redis, for the commands' -redis flag.
func redisURL(t testing.TB) string {
	t.Helper()
	return "redis://" + testRedis(t).Options().Addr + "/0"
}

// randomHex returns 16 random hex digits.
func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// testNamespace returns a namespace unique to t. Every key under it (also those a test plants) is
// deleted from the test Redis when t ends.
func testNamespace(t testing.TB) string {
	t.Helper()
	rdb := testRedis(t)
	ns := "cachedsqltest:" + randomHex()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		iter := rdb.Scan(ctx, 0, ns+":*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("clean up %s: %v", iter.Val(), err)
				return
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up namespace %s: %v", ns, err)
		}
	})
	return ns
}

// testPostgres returns the DSN of the test PostgreSQL database with its search_path set to a new
// schema of its own, dropped when t ends.
func testPostgres(t testing.TB) string {
	t.Helper()
	base := envOr("CACHEDSQL_TEST_PG", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		skipOrFail(t, "no PostgreSQL (set CACHEDSQL_TEST_PG to a DSN): "+err.Error())
	}
	schema := "t_" + randomHex()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	if u, err := url.Parse(base); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return base + " search_path=" + schema
}
