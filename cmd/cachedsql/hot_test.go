package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

// TestRunHot: `cachedsql hot` lists each rule's hot set in each database of the namespace, top
// members first, and skips keys that are not hot sets.
func TestRunHot(t *testing.T) {
	ctx := context.Background()
	rdb, ns := testRedis(t), testNamespace(t)
	a, b := keying.NewLayout(ns, "database a"), keying.NewLayout(ns, "database b")
	p := a.Prefix()
	feeds := []struct {
		key     string
		members []redis.Z
	}{
		{a.Hot("users"), []redis.Z{{Score: 3, Member: p + "q:aa"}, {Score: 7.5, Member: p + "q:bb"}, {Score: 1, Member: p + "q:cc"}}},
		{a.Hot("orders"), []redis.Z{{Score: 2, Member: p + "q:dd"}}},
		{b.Hot("users"), []redis.Z{{Score: 4, Member: p + "q:ee"}}},
	}
	for _, f := range feeds {
		if err := rdb.ZAdd(ctx, f.key, f.members...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.ZAdd(ctx, a.KindPrefix(keying.KeyHot)+"not-a-hot-set", redis.Z{Score: 1, Member: "x"}).Err(); err != nil {
		t.Fatal(err)
	}
	url := redisURL(t)
	header := func(l keying.Layout, rule, shown string) string {
		return "rule " + rule + "  db " + l.Database() + "  (" + l.Hot(rule) + "): " + shown + " shown\n"
	}
	orders := header(a, "orders", "1") +
		"           2  " + p + "q:dd\n"
	usersA := header(a, "users", "2") +
		"         7.5  " + p + "q:bb\n" +
		"           3  " + p + "q:aa\n"
	usersB := header(b, "users", "1") +
		"           4  " + p + "q:ee\n"
	first, second := usersA, usersB // by rule, then database id
	if b.Database() < a.Database() {
		first, second = usersB, usersA
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"top two", []string{"-redis", url, "-namespace", ns, "-n", "2"}, orders + first + second},
		{"one database", []string{"-redis", url, "-namespace", ns, "-n", "2", "-db", a.Database()}, orders + usersA},
		{"empty namespace", []string{"-redis", url, "-namespace", ns + "-none"},
			"no hot sets under " + ns + "-none:h:*\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runSub(t, "hot", tt.args, &out); err != nil {
				t.Fatalf("runHot: %v\n%s", err, out.String())
			}
			if got := out.String(); got != tt.want {
				t.Errorf("output:\ngot\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRunHotUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no redis", nil},
		{"bad n", []string{"-redis", "redis://127.0.0.1:1/0", "-n", "0"}},
		{"bad url", []string{"-redis", "http://nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd(t, append([]string{"hot"}, tt.args...)...).want(t, exitUsage, "usage: cachedsql hot")
		})
	}
}

// TestRunHotNames: -rules prints each rule's statement (or conditions) under its set, and -dsn names
// the database it reaches next to its id.
func TestRunHotNames(t *testing.T) {
	ctx := context.Background()
	rdb, ns := testRedis(t), testNamespace(t)
	path := warmDB(t)
	id, err := cachedsql.ResolveIdentity(ctx, "sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	l := keying.NewLayout(ns, id)
	for _, rule := range []string{"user", "orders"} {
		if err := rdb.ZAdd(ctx, l.Hot(rule), redis.Z{Score: 2, Member: l.Prefix() + "q:aa"}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	out := cmd(t, "hot", "-redis", redisURL(t), "-namespace", ns, "-rules", "testdata/explain-rules.yaml",
		"-driver", "sqlite3", "-dsn", path).ok(t)
	db := l.Database() + " (sqlite " + path + ")"
	want := "rule orders  db " + db + "  (" + l.Hot("orders") + "): 1 shown\n" +
		"  matches: tables_any orders\n" +
		"           2  " + l.Prefix() + "q:aa\n" +
		"rule user  db " + db + "  (" + l.Hot("user") + "): 1 shown\n" +
		"  statement: select id, name from users where id = $1\n" +
		"           2  " + l.Prefix() + "q:aa\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	cmd(t, "hot", "-redis", redisURL(t), "-namespace", ns, "-driver", "sqlite3", "-dsn", "file:/no/such/dir/x.db?mode=ro").
		want(t, exitFailure, "-dsn file:/no/such/dir/x.db?mode=ro")
}

// TestRunHotStatements: an application's hot entries come with their statements, named by fingerprint
// and sqlc name; -f gives their normalized text.
func TestRunHotStatements(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t)
	path := warmDB(t)
	rules, err := cachedsql.NewRules(cachedsql.Rule{Name: "users", Match: cachedsql.Match{TablesAny: []string{"users"}}, RefreshAhead: true})
	if err != nil {
		t.Fatal(err)
	}
	app, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: rules, Redis: testRedis(t), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	const getUser = "-- name: GetUser :one\nSELECT id, name FROM users WHERE id = ?"
	for range 3 {
		if err := app.QueryRowContext(ctx, getUser, 1).Scan(new(int64), new(string)); err != nil {
			t.Fatal(err)
		}
	}
	fp := keying.Analyze(getUser).Fingerprint
	want := "statement " + fp + " GetUser\n              select id, name from users where id = $1\n"
	args := []string{"hot", "-redis", redisURL(t), "-namespace", ns, "-f", "testdata/app.sql"}
	var out string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out, want); { // the app feeds its hits about once a second
		if time.Now().After(deadline) {
			t.Fatalf("hot never listed %q:\n%s", want, out)
		}
		time.Sleep(20 * time.Millisecond)
		out = cmd(t, args...).ok(t)
	}
	// Without -f, the text the set holds: the same statement with its literals written as "?".
	const inlined = "SELECT id, name FROM users WHERE id = 2"
	for range 3 {
		if err := app.QueryRowContext(ctx, inlined).Scan(new(int64), new(string)); err != nil {
			t.Fatal(err)
		}
	}
	want = "statement " + keying.Analyze(inlined).Fingerprint + "\n              select id, name from users where id = ?\n"
	args = []string{"hot", "-redis", redisURL(t), "-namespace", ns}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out, want); {
		if time.Now().After(deadline) {
			t.Fatalf("hot never listed %q:\n%s", want, out)
		}
		time.Sleep(20 * time.Millisecond)
		out = cmd(t, args...).ok(t)
	}
}
