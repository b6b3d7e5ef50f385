package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

const warmRulesFile = "testdata/warm-rules.yaml"

// warmDB creates a SQLite file with users and orders and returns its path.
func warmDB(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warm.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO users VALUES (1, 'ann'), (2, 'bob')`,
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

// warmArgs returns the arguments of `cachedsql warm` for the database at path, the test's Redis
// namespace ns and the warm files.
func warmArgs(t testing.TB, path, ns string, files ...string) []string {
	t.Helper()
	return append([]string{"warm", "-driver", "sqlite3", "-dsn", path, "-rules", warmRulesFile,
		"-redis", redisURL(t), "-namespace", ns}, files...)
}

// warmRun runs warm with env and args. A store call slower than the default StoreTimeout (50ms), which
// a loaded test machine may cause, makes warm report that statement as not stored because of the store;
// such a run says nothing of what the tests check, so it is run again, up to three times in all.
func warmRun(t testing.TB, env map[string]string, args ...string) result {
	t.Helper()
	var r result
	for range 3 {
		r = cmdEnv(t, env, "", args...)
		if !strings.Contains(r.stdout, ": not stored: store error: ") && !strings.Contains(r.stdout, "(store unavailable") {
			break
		}
		t.Logf("the store was slow, running again:\n%s", r.stdout)
	}
	return r
}

// TestRunWarm: `cachedsql warm` stores the results the rules cache, so that an application opening
// the same database with the same store and namespace hits at once, and reports each statement.
func TestRunWarm(t *testing.T) {
	onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) { testRunWarm(t, watch) })
}

func testRunWarm(t testing.TB, watch func(*sql.DB)) {
	ctx := context.Background()
	path := warmDB(t)
	ns := testNamespace(t)
	out := warmRun(t, nil, warmArgs(t, path, ns, "testdata/warm.yaml")...).ok(t)
	want := `testdata/warm.yaml:2: stored (rule users, 1 row(s), ttl 1m0s)
testdata/warm.yaml:4: stored (rule users, 2 row(s), ttl 1m0s)
testdata/warm.yaml:5: not stored: no rule matches; not run
warm: 3 statement(s): 2 stored, 1 not stored, 0 failed
`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}

	rules, err := cachedsql.LoadRules(warmRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	app, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: rules, Redis: testRedis(t), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	watch(app)
	var name string
	if err := app.QueryRowContext(ctx, `SELECT id, name FROM users WHERE id = ?`, 1).Scan(new(int64), &name); err != nil {
		t.Fatal(err)
	}
	rows, err := app.QueryContext(ctx, `SELECT id, name FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := cachedsql.StatsOf(app)
	if st.Hits != 2 || st.Misses != 0 {
		t.Errorf("application reads after warm: %d hits, %d misses; want 2 and 0", st.Hits, st.Misses)
	}
}

// TestRunWarmRefuses: warm runs only cacheable reads under an enabled rule: a write is reported and not
// run (it once ran an UPDATE); a statement that fails is reported and the others still run.
func TestRunWarmRefuses(t *testing.T) {
	path := warmDB(t)
	r := warmRun(t, nil, append(warmArgs(t, path, testNamespace(t), "testdata/warm-mixed.yaml"), "-rules", "testdata/warm-skip-rules.yaml")...)
	r.want(t, exitFailure, "cachedsql warm: 1 statement(s) failed")
	want := `testdata/warm-mixed.yaml:3: not stored: not a read (write); not run
testdata/warm-mixed.yaml:4: not stored: not a read (write); not run
testdata/warm-mixed.yaml:5: not stored: not cacheable (calls random()); not run
testdata/warm-mixed.yaml:6: failed: no such column: nope
testdata/warm-mixed.yaml:7: not stored: result not kept (empty result; 0 row(s))
testdata/warm-mixed.yaml:8: stored (rule users, 2 row(s), ttl 1m0s)
warm: 6 statement(s): 1 stored, 4 not stored, 1 failed
`
	if r.stdout != want {
		t.Errorf("output:\n%s\nwant:\n%s", r.stdout, want)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	var orders int
	if err := db.QueryRow(`SELECT (SELECT name FROM users WHERE id = 1), (SELECT count(*) FROM orders)`).Scan(&name, &orders); err != nil {
		t.Fatal(err)
	}
	if name != "ann" || orders != 0 {
		t.Errorf("after warm: user 1 is %q and orders has %d rows; want ann and 0 (the writes not run)", name, orders)
	}
}

// TestRunWarmNothingStored: a warm that stores nothing exits with status 1.
func TestRunWarmNothingStored(t *testing.T) {
	r := cmd(t, warmArgs(t, warmDB(t), testNamespace(t), "testdata/warm-none.yaml")...)
	r.want(t, exitFailure, "cachedsql warm: nothing could be stored")
	if !strings.HasSuffix(r.stdout, "warm: 1 statement(s): 0 stored, 1 not stored, 0 failed\n") {
		t.Errorf("output:\n%s", r.stdout)
	}
}

// TestRunWarmConcurrency: with -concurrency, statements run at once on several connections; the
// report keeps the file's order, and every result is stored. Progress goes to stderr.
func TestRunWarmConcurrency(t *testing.T) {
	path := warmDB(t)
	file := filepath.Join(t.TempDir(), "many.yaml")
	var b strings.Builder
	var want strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "- query: SELECT id, name FROM users WHERE id = ? OR id = %d\n  args: [%d]\n", i, i%3)
		n := 0
		for _, id := range []int{1, 2} {
			if id == i || id == i%3 {
				n++
			}
		}
		fmt.Fprintf(&want, "%s:%d: stored (rule users, %d row(s), ttl 1m0s)\n", file, 2*i+1, n)
	}
	want.WriteString("warm: 40 statement(s): 40 stored, 0 not stored, 0 failed\n")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	old := warmProgressEvery
	warmProgressEvery = 0
	t.Cleanup(func() { warmProgressEvery = old })
	r := warmRun(t, nil, append(warmArgs(t, path, testNamespace(t), file), "-concurrency", "3")...)
	if out := r.ok(t); out != want.String() {
		t.Errorf("output:\n%s\nwant:\n%s", out, want.String())
	}
	if !strings.Contains(r.stderr, "warm: 39/40 statements done (") {
		t.Errorf("stderr has no progress line:\n%s", r.stderr)
	}
}

// TestRunWarmEnvironment: warm reads its rules, Redis, namespace and store timeout from the
// environment; the statements' keys are those of an application configured alike.
func TestRunWarmEnvironment(t *testing.T) {
	path := warmDB(t)
	ns := testNamespace(t)
	env := map[string]string{cachedsql.EnvRules: warmRulesFile, cachedsql.EnvRedisURL: redisURL(t),
		cachedsql.EnvNamespace: ns, cachedsql.EnvStoreTimeout: "250ms", cachedsql.EnvSessionSettings: "app.tenant"}
	out := warmRun(t, env, "warm", "-driver", "sqlite3", "-dsn", path, "testdata/warm.yaml").ok(t)
	if !strings.HasSuffix(out, "2 stored, 1 not stored, 0 failed\n") {
		t.Errorf("output:\n%s", out)
	}
	env[cachedsql.EnvStoreTimeout] = "never"
	cmdEnv(t, env, "", "warm", "-driver", "sqlite3", "-dsn", path, "testdata/warm.yaml").
		want(t, exitUsage, "CACHEDSQL_STORE_TIMEOUT: want a positive duration")
}

// TestRunWarmBadFile: a warm file that cannot be used is reported with its name and the line at
// fault, and nothing is run.
func TestRunWarmBadFile(t *testing.T) {
	tests := []struct {
		file string
		want []string // in stderr
	}{
		{"testdata/warm-unknown-field.yaml", []string{"testdata/warm-unknown-field.yaml", "line 4", "arguments"}},
		{"testdata/warm-syntax.yaml", []string{"testdata/warm-syntax.yaml", "line 4"}},
		{"testdata/warm-empty-query.yaml", []string{"testdata/warm-empty-query.yaml", "line 3", "query is empty"}},
		{"testdata/missing.yaml", []string{"testdata/missing.yaml"}},
	}
	path := warmDB(t)
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			r := cmd(t, warmArgs(t, path, testNamespace(t), tt.file)...)
			r.want(t, exitFailure, tt.want...)
			if r.stdout != "" {
				t.Errorf("stdout: %q, want nothing", r.stdout)
			}
		})
	}
}

// TestRunWarmStoreTimeout: -store-timeout bounds each Redis call of warm. Behind a Redis that answers
// after 200ms, the default 50ms sends every read to the database (nothing stored, status 1), and
// -store-timeout 10s stores them.
func TestRunWarmStoreTimeout(t *testing.T) {
	path := warmDB(t)
	ns := testNamespace(t)
	proxy := testenv.NewProxy(t, testenv.RedisAddr(t))
	proxy.SetDelay(200 * time.Millisecond)
	args := []string{"warm", "-driver", "sqlite3", "-dsn", path, "-rules", warmRulesFile, "-redis", "redis://" + proxy.Addr() + "/0",
		"-namespace", ns, "testdata/warm.yaml"}
	r := cmd(t, args...)
	r.want(t, exitFailure, "nothing could be stored")
	if !strings.Contains(r.stdout, "testdata/warm.yaml:2: not stored: ") {
		t.Errorf("output:\n%s", r.stdout)
	}
	out := cmd(t, append(args, "-store-timeout", "10s")...).ok(t)
	if !strings.HasSuffix(out, "2 stored, 1 not stored, 0 failed\n") {
		t.Errorf("with -store-timeout 10s:\n%s", out)
	}
}
