package main

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// twoRuleApp opens the SQLite file at path through the wrapper, caching in the test's Redis under
// ns: reads of users under rule usersRule, reads of orders under rule ordersRule.
func twoRuleApp(t testing.TB, path, ns, usersRule, ordersRule string) *sql.DB {
	t.Helper()
	rules, err := cachedsql.NewRules(
		cachedsql.Rule{Name: usersRule, Match: cachedsql.Match{TablesAny: []string{"users"}}, TTL: time.Minute},
		cachedsql.Rule{Name: ordersRule, Match: cachedsql.Match{TablesAny: []string{"orders"}}, TTL: time.Minute},
	)
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

// ruleSets returns the keys of the sets that list the entries of rule, in every database of ns.
func ruleSets(t *testing.T, ns, rule string) []string {
	t.Helper()
	l := keying.NewLayout(ns, "")
	keys, err := testRedis(t).Keys(context.Background(), l.KindPrefix(keying.KeyRuleIndex)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var sets []string
	for _, k := range keys {
		if name, ok := l.Parse(k); ok && name.Kind == keying.KeyRuleIndex && name.Rule == rule {
			sets = append(sets, k)
		}
	}
	return sets
}

// readHit reads query through app and reports whether it was served from the cache.
func readHit(t testing.TB, app *sql.DB, query string) bool {
	t.Helper()
	hits, _ := hitsMisses(t, app)
	rows, err := app.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := hitsMisses(t, app)
	return after > hits
}

// TestRunFlushRule: `flush -rule R` makes R's next read a miss and leaves the other rule's reads
// hits, whatever glob characters or colons the names hold.
func TestRunFlushRule(t *testing.T) {
	const (
		usersQuery  = `SELECT id, name FROM users WHERE id = 1`
		ordersQuery = `SELECT id, total FROM orders WHERE id = 1`
	)
	tests := []struct {
		name              string
		usersRule, orders string // rule names; the users rule is flushed
	}{
		{"plain", "a", "b"},
		{"other extends name", "a", "a:1"},
		{"glob name", "a*", "ab"},
		{"glob other", "a", "[a]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) {
				ns := testNamespace(t)
				app := twoRuleApp(t, warmDB(t), ns, tt.usersRule, tt.orders)
				watch(app)
				for _, q := range []string{usersQuery, ordersQuery} {
					if readHit(t, app, q) {
						t.Fatalf("first read of %s was a hit, want a miss", q)
					}
				}
				var out bytes.Buffer
				args := []string{"-redis", redisURL(t), "-namespace", ns, "-rule", tt.usersRule}
				if err := runSub(t, "flush", args, &out); err != nil {
					t.Fatalf("runFlush: %v\n%s", err, out.String())
				}
				if got, want := out.String(), "deleted 1 entries of rule "+tt.usersRule+"\n"; got != want {
					t.Errorf("flush output = %q, want %q", got, want)
				}
				if readHit(t, app, usersQuery) {
					t.Errorf("read under the flushed rule %q was a hit, want a miss", tt.usersRule)
				}
				if !readHit(t, app, ordersQuery) {
					t.Errorf("read under the other rule %q was a miss, want a hit", tt.orders)
				}
			})
		})
	}
}

// TestRunFlushRuleForeignMember (issue 8): a member of a rule's set that is not a key of the namespace
// (planted there, or written by something else) is never deleted by `flush -rule`.
func TestRunFlushRuleForeignMember(t *testing.T) {
	ctx := context.Background()
	ns, other := testNamespace(t), testNamespace(t)
	app := twoRuleApp(t, warmDB(t), ns, "a", "b")
	if readHit(t, app, `SELECT id, name FROM users WHERE id = 1`) {
		t.Fatal("first read was a hit, want a miss")
	}
	rdb := testRedis(t)
	sets := ruleSets(t, ns, "a")
	if len(sets) == 0 {
		t.Fatal("rule a has no sets")
	}
	foreign := other + ":precious"
	if err := rdb.Set(ctx, foreign, "keep me", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.SAdd(ctx, sets[0], foreign).Err(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runSub(t, "flush", []string{"-redis", redisURL(t), "-namespace", ns, "-rule", "a"}, &out); err != nil {
		t.Fatalf("runFlush: %v\n%s", err, out.String())
	}
	if got, want := out.String(), "deleted 1 entries of rule a\n"; got != want {
		t.Errorf("flush output = %q, want %q", got, want)
	}
	if n, err := rdb.Exists(ctx, foreign).Result(); err != nil || n != 1 {
		t.Errorf("key %s outside the namespace: exists = %d, %v; want it kept", foreign, n, err)
	}
}

// TestRunFlushRuleOneDatabase (issue 9): with -db, `flush -rule` deletes the rule's entries of that database
// only; without, of every database of the namespace.
func TestRunFlushRuleOneDatabase(t *testing.T) {
	const query = `SELECT id, name FROM users WHERE id = 1`
	ctx := context.Background()
	ns := testNamespace(t)
	pathA, pathB := warmDB(t), warmDB(t)
	a, b := twoRuleApp(t, pathA, ns, "u", "o"), twoRuleApp(t, pathB, ns, "u", "o")
	idA, err := cachedsql.ResolveIdentity(ctx, "sqlite3", pathA)
	if err != nil {
		t.Fatal(err)
	}
	flush := func(want string, args ...string) {
		t.Helper()
		var out bytes.Buffer
		args = append([]string{"-redis", redisURL(t), "-namespace", ns, "-rule", "u"}, args...)
		if err := runSub(t, "flush", args, &out); err != nil {
			t.Fatalf("runFlush: %v\n%s", err, out.String())
		}
		if got := out.String(); got != want {
			t.Errorf("flush %q: output %q, want %q", args, got, want)
		}
	}
	readHit(t, a, query)
	readHit(t, b, query)
	flush("deleted 1 entries of rule u\n", "-db", string(cachedsql.DatabaseIDOf(idA)))
	if readHit(t, a, query) {
		t.Error("database A: a hit after flushing its rule, want a miss")
	}
	if !readHit(t, b, query) {
		t.Error("database B: a miss after flushing the rule of A, want a hit")
	}
	flush("deleted 2 entries of rule u\n")
	if readHit(t, a, query) || readHit(t, b, query) {
		t.Error("a hit after flushing the rule in every database, want misses")
	}
}
