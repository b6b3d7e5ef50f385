package main

// The command's tests run it in process through (*cli).main, with an environment of their own, and
// reach the test servers through internal/testenv, as every test of the module does (the command
// itself imports no internal package).

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testRedis returns a client of the test Redis, closed when t ends.
func testRedis(t testing.TB) *redis.Client { return testenv.Redis(t) }

// redisURL returns the URL of the test Redis, for the commands' -redis flag.
func redisURL(t testing.TB) string { return "redis://" + testenv.RedisAddr(t) + "/0" }

// testNamespace returns a namespace unique to t, whose keys are deleted when t ends.
func testNamespace(t testing.TB) string { return strings.TrimSuffix(testenv.Prefix(t), ":") }

// testPostgres returns the DSN of the test PostgreSQL database with its search_path set to a schema
// of t's own, dropped when t ends.
func testPostgres(t testing.TB) string { return testenv.Postgres(t) }

// result is what one run of the command did.
type result struct {
	code           int
	stdout, stderr string
}

// cmd runs the command line args with an empty environment and no stdin.
func cmd(t testing.TB, args ...string) result { return cmdEnv(t, nil, "", args...) }

// cmdEnv runs the command line args with the environment env and stdin.
func cmdEnv(t testing.TB, env map[string]string, stdin string, args ...string) result {
	return cmdCtx(t, context.Background(), env, stdin, args...)
}

func cmdCtx(t testing.TB, ctx context.Context, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv: func(name string) string { return env[name] }}
	code := c.main(ctx, args)
	return result{code, out.String(), errOut.String()}
}

// ok fails t unless r exited with status 0, and returns its stdout.
func (r result) ok(t testing.TB) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// want fails t unless r exited with status code and its stderr holds each of errs.
func (r result) want(t testing.TB, code int, errs ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, e := range errs {
		if !strings.Contains(r.stderr, e) {
			t.Errorf("stderr lacks %q:\n%s", e, r.stderr)
		}
	}
}

// runSub runs the command name with args, appends its stdout to out, and returns an error holding its
// exit status and stderr when it is not 0.
func runSub(t testing.TB, name string, args []string, out *bytes.Buffer) error {
	t.Helper()
	r := cmd(t, append([]string{name}, args...)...)
	out.WriteString(r.stdout)
	if r.code != 0 {
		return fmt.Errorf("exit status %d: %s", r.code, r.stderr)
	}
	return nil
}

// onLoadedHost runs body, a test that counts hits and misses of the handles it watches, under
// testenv.Attempts: an attempt that fails while one of them saw a store error (the default StoreTimeout
// exceeded on a loaded host turns a hit into a bypass) is run again.
func onLoadedHost(t *testing.T, body func(t *testenv.Attempt, watch func(*sql.DB))) {
	t.Helper()
	testenv.Attempts(t, 3, func(a *testenv.Attempt) {
		var dbs []*sql.DB
		a.Inconclusive(func() string {
			var n uint64
			for _, db := range dbs {
				if st, ok := cachedsql.StatsOf(db); ok {
					n += st.StoreErrors
				}
			}
			if n == 0 {
				return ""
			}
			return fmt.Sprintf("%d store errors", n)
		})
		body(a, func(db *sql.DB) { dbs = append(dbs, db) })
	})
}
