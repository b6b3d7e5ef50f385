package main

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// opsApp opens the SQLite file at path through the wrapper, caching in the test's Redis under ns
// with the warm rules.
func opsApp(t testing.TB, path, ns string) *sql.DB {
	t.Helper()
	rules, err := cachedsql.LoadRules(warmRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	app, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: rules, Redis: testRedis(t), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

// readUser reads user 1 through app, which the warm rules cache.
func readUser(t testing.TB, app *sql.DB) {
	t.Helper()
	var name string
	if err := app.QueryRowContext(context.Background(), `SELECT id, name FROM users WHERE id = ?`, 1).Scan(new(int64), &name); err != nil {
		t.Fatal(err)
	}
}

func hitsMisses(t testing.TB, app *sql.DB) (hits, misses uint64) {
	t.Helper()
	s, ok := cachedsql.StatsOf(app)
	if !ok {
		t.Fatal("StatsOf: not a caching db")
	}
	return s.Hits, s.Misses
}

// TestRunInvalidations: writes through the wrapper are listed newest first with their tables and
// statements, and -n bounds the list.
func TestRunInvalidations(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t)
	app := opsApp(t, warmDB(t), ns)
	first := `UPDATE users SET name = 'ann2' WHERE id = 1`
	second := `INSERT INTO orders VALUES (1, 5)`
	for _, q := range []string{first, second} {
		if _, err := app.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The log names a statement by its first word and fingerprint, and shows its text with every literal
	// written as "?": never a value.
	cause := func(q string) string {
		st := keying.Analyze(q)
		verb, _, _ := strings.Cut(st.Normalized, " ")
		return verb + " (fingerprint " + st.Fingerprint + ")"
	}
	const firstText, secondText = "    update users set name = ? where id = ?", "    insert into orders values (?, ?)"
	tests := []struct {
		name string
		n    string
		want []string // the end of each line: tables and cause, then the text
	}{
		{"all", "20", []string{"orders  " + cause(second), secondText, "users  " + cause(first), firstText}},
		{"n=1", "1", []string{"orders  " + cause(second), secondText}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runSub(t, "invalidations", []string{"-redis", redisURL(t), "-namespace", ns, "-n", tt.n}, &out); err != nil {
				t.Fatalf("runInvalidations: %v\n%s", err, out.String())
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("output: got %d lines, want %d:\n%s", len(lines), len(tt.want), out.String())
			}
			for i, w := range tt.want {
				if !strings.HasSuffix(lines[i], w) {
					t.Errorf("line %d: got %q, want it to end with %q", i, lines[i], w)
				}
			}
			if strings.Contains(out.String(), "ann2") {
				t.Errorf("a literal of a statement is shown:\n%s", out.String())
			}
		})
	}
}

// TestRunFlushTable: `flush -table` makes the next read of the table miss, and is logged.
func TestRunFlushTable(t *testing.T) {
	onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) { testRunFlushTable(t, watch) })
}

func testRunFlushTable(t testing.TB, watch func(*sql.DB)) {
	ns := testNamespace(t)
	path := warmDB(t)
	app := opsApp(t, path, ns)
	watch(app)
	readUser(t, app)
	readUser(t, app)
	if hits, misses := hitsMisses(t, app); hits != 1 || misses != 1 {
		t.Fatalf("before flush: hits, misses = %d, %d, want 1, 1", hits, misses)
	}
	var out bytes.Buffer
	args := []string{"-redis", redisURL(t), "-namespace", ns, "-table", "Users", "-driver", "sqlite3", "-dsn", path}
	if err := runSub(t, "flush", args, &out); err != nil {
		t.Fatalf("runFlush: %v\n%s", err, out.String())
	}
	readUser(t, app)
	if hits, misses := hitsMisses(t, app); hits != 1 || misses != 2 {
		t.Errorf("after flush: hits, misses = %d, %d, want 1, 2", hits, misses)
	}
	out.Reset()
	if err := runSub(t, "invalidations", []string{"-redis", redisURL(t), "-namespace", ns}, &out); err != nil {
		t.Fatalf("runInvalidations: %v", err)
	}
	if got, want := out.String(), "users  cachedsql.Admin\n"; !strings.HasSuffix(got, want) {
		t.Errorf("invalidations: got %q, want it to end with %q", got, want)
	}
}

// TestRunFlushAll: `flush -all` deletes every key of the namespace and nothing else.
func TestRunFlushAll(t *testing.T) {
	ctx := context.Background()
	ns, other := testNamespace(t), testNamespace(t)
	path := warmDB(t)
	for _, n := range []string{ns, other} {
		app := opsApp(t, path, n)
		readUser(t, app)
		if _, err := app.ExecContext(ctx, `INSERT INTO orders VALUES (NULL, 1)`); err != nil {
			t.Fatal(err)
		}
		readUser(t, app)
	}
	var out bytes.Buffer
	if err := runSub(t, "flush", []string{"-redis", redisURL(t), "-namespace", ns, "-all"}, &out); err != nil {
		t.Fatalf("runFlush: %v\n%s", err, out.String())
	}
	if got, want := out.String(), "deleted "; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, " keys under "+ns+":*\n") {
		t.Errorf("flush output = %q, want %q, a count and the namespace", got, want)
	}
	rdb := testRedis(t)
	for _, tt := range []struct {
		ns   string
		want bool
	}{{ns, false}, {other, true}} {
		keys, err := rdb.Keys(ctx, tt.ns+":*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := len(keys) > 0; got != tt.want {
			t.Errorf("namespace %s has keys after flush: got %v (%q), want %v", tt.ns, got, keys, tt.want)
		}
	}
}

// TestRunFlushUsage: flush needs exactly one of -all, -rule and -table, and -dsn goes with -table.
func TestRunFlushUsage(t *testing.T) {
	url := "redis://127.0.0.1:1/0"
	tests := []struct {
		name string
		args []string
	}{
		{"no mode", []string{"-redis", url}},
		{"both modes", []string{"-redis", url, "-all", "-table", "t", "-dsn", "x"}},
		{"all and rule", []string{"-redis", url, "-all", "-rule", "r"}},
		{"rule and table", []string{"-redis", url, "-rule", "r", "-table", "t", "-dsn", "x"}},
		{"rule with dsn", []string{"-redis", url, "-rule", "r", "-dsn", "x"}},
		{"table without dsn", []string{"-redis", url, "-table", "t"}},
		{"db without rule", []string{"-redis", url, "-all", "-db", "0123456789abcdef"}},
		{"no redis", []string{"-all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd(t, append([]string{"flush"}, tt.args...)...).want(t, exitUsage, "usage: cachedsql flush")
		})
	}
}

// TestRunFlushTableRows: `flush -table` also reaches row entries, whose tokens it finds through the
// key registry the application wrote.
func TestRunFlushTableRows(t *testing.T) {
	onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) { testRunFlushTableRows(t, watch) })
}

func testRunFlushTableRows(t testing.TB, watch func(*sql.DB)) {
	ns := testNamespace(t)
	path := warmDB(t)
	rules, err := cachedsql.NewRules(cachedsql.Rule{Name: "user", Key: []string{"id"},
		Match: cachedsql.Match{SQL: `SELECT id, name FROM users WHERE id = ?`}})
	if err != nil {
		t.Fatal(err)
	}
	app, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: rules, Redis: testRedis(t), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	watch(app)
	readUser(t, app)
	readUser(t, app)
	if hits, misses := hitsMisses(t, app); hits != 1 || misses != 1 {
		t.Fatalf("before flush: hits, misses = %d, %d, want 1, 1", hits, misses)
	}
	args := []string{"-redis", redisURL(t), "-namespace", ns, "-table", "users", "-driver", "sqlite3", "-dsn", path}
	if err := runSub(t, "flush", args, &bytes.Buffer{}); err != nil {
		t.Fatalf("runFlush: %v", err)
	}
	readUser(t, app)
	if hits, misses := hitsMisses(t, app); hits != 1 || misses != 2 {
		t.Errorf("after flush: hits, misses = %d, %d, want 1, 2", hits, misses)
	}
}

// TestRunInvalidationsNames: -f shows the normalized text of the writes whose fingerprint or sqlc name
// the file's statements have, and -dsn names the database next to its id.
func TestRunInvalidationsNames(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t)
	path := warmDB(t)
	app := opsApp(t, path, ns)
	for _, q := range []string{"-- name: RenameUser :exec\nUPDATE users SET name = ? WHERE id = ?", "DELETE FROM orders WHERE id = ?", "INSERT INTO orders VALUES (7, 1)"} {
		args := []any{7}
		if strings.Contains(q, "RenameUser") {
			args = []any{"x", 1}
		}
		if _, err := app.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	id, err := cachedsql.ResolveIdentity(ctx, "sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	out := cmd(t, "invalidations", "-redis", redisURL(t), "-namespace", ns, "-f", "testdata/app.sql", "-driver", "sqlite3", "-dsn", path).ok(t)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	db := "  db " + string(cachedsql.DatabaseIDOf(id)) + " (sqlite " + path + ")  "
	want := []struct{ suffix, text string }{
		// Not in -f's file: the text the log holds, its literals written as "?".
		{"orders  insert (fingerprint " + keying.Analyze("INSERT INTO orders VALUES (7, 1)").Fingerprint + ")", "    insert into orders values (?, ?)"},
		{"orders  delete (fingerprint " + keying.Analyze("DELETE FROM orders WHERE id = ?").Fingerprint + ")", "    delete from orders where id = ?"},
		{"users  update RenameUser", "    update users set name = $1 where id = $2"},
	}
	i := 0
	for _, w := range want {
		if i >= len(lines) || !strings.Contains(lines[i], db) || !strings.HasSuffix(lines[i], w.suffix) {
			t.Fatalf("line %d: want one with %q ending in %q:\n%s", i, db, w.suffix, out)
		}
		i++
		if w.text != "" {
			if i >= len(lines) || lines[i] != w.text {
				t.Fatalf("line %d: want %q:\n%s", i, w.text, out)
			}
			i++
		}
	}
	if i != len(lines) {
		t.Errorf("%d lines, want %d:\n%s", len(lines), i, out)
	}
	// -db selects one database: this one's lines, or none of another's.
	if got := cmd(t, "invalidations", "-redis", redisURL(t), "-namespace", ns, "-db", string(cachedsql.DatabaseIDOf(id)), "-n", "1").ok(t); !strings.Contains(got, "orders  "+want[0].suffix[len("orders  "):]+"\n") || strings.Count(got, "  db ") != 1 {
		t.Errorf("-db %s -n 1: %q", cachedsql.DatabaseIDOf(id), got)
	}
	if got := cmd(t, "invalidations", "-redis", redisURL(t), "-namespace", ns, "-db", "0123456789abcdef").ok(t); !strings.HasPrefix(got, "no invalidations logged") {
		t.Errorf("-db of another database: %q", got)
	}
}
