package main

// The command's tests reach the test servers through internal/testenv, as every test of the module
// does (the command itself imports no internal package).

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/testenv"
)

// testRedis returns a client of the test Redis, closed when t ends.
func testRedis(t testing.TB) *redis.Client { return testenv.Redis(t) }

// redisURL returns the URL of the test Redis, for the commands' -redis flag.
func redisURL(t testing.TB) string { return "redis://" + testenv.RedisAddr(t) + "/0" }

// testNamespace returns a namespace unique to t, whose keys are deleted when t ends.
func testNamespace(t testing.TB) string { return strings.TrimSuffix(testenv.Prefix(t), ":") }

// testPostgres returns the DSN of the test PostgreSQL database with its search_path set to a schema
// of t's own, dropped when t ends.
func testPostgres(t testing.TB) string { return testenv.Postgres(t) }
