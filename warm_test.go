package cachedsql_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/cachedsql/cachedsql"
)

// warmRules caches reads of users only.
func warmRules(t testing.TB) *cachedsql.Rules {
	t.Helper()
	return mustRules(t, cachedsql.Rule{Name: "users", Match: cachedsql.Match{TablesAny: []string{"users"}}})
}

// TestWarm: Warm stores the result of every statement a rule caches, so that another process sharing
// the store then hits; statements no rule caches are run but not stored.
func TestWarm(t *testing.T) {
	ctx := context.Background()
	bare, db, rdb, ns := redisSQLite(t, cachedsql.Options{Rules: warmRules(t)})
	stmts := []cachedsql.WarmStatement{
		{Query: `SELECT name FROM users WHERE id = ?`, Args: []any{1}},
		{Query: `SELECT name FROM users WHERE id = ?`, Args: []any{2}},
		{Query: `SELECT total FROM orders WHERE id = ?`, Args: []any{1}}, // no rule
	}
	rep, err := cachedsql.Warm(ctx, db, stmts...)
	if err != nil {
		t.Fatal(err)
	}
	if want := (cachedsql.WarmReport{Statements: 3, Filled: 2}); rep != want {
		t.Errorf("report: got %+v, want %+v", rep, want)
	}

	// Another process on the same database and store.
	var path string
	if err := bare.QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	other, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: warmRules(t), Redis: rdb, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, id := range []int{1, 2} {
		queryAll(t, other, ctx, `SELECT name FROM users WHERE id = ?`, id)
	}
	if st := stats(t, other); st.Hits != 2 || st.Misses != 0 {
		t.Errorf("reads after Warm: %d hits, %d misses; want 2 and 0", st.Hits, st.Misses)
	}
}

// TestWarmErrors: Warm stops at the first failing statement, reporting what it ran before, and
// refuses a database it did not open.
func TestWarmErrors(t *testing.T) {
	ctx := context.Background()
	_, db := openSQLite(t, cachedsql.Options{Rules: warmRules(t)})
	rep, err := cachedsql.Warm(ctx, db,
		cachedsql.WarmStatement{Query: `SELECT name FROM users WHERE id = ?`, Args: []any{1}},
		cachedsql.WarmStatement{Query: `SELECT nope FROM missing`},
		cachedsql.WarmStatement{Query: `SELECT name FROM users WHERE id = ?`, Args: []any{2}},
	)
	if err == nil {
		t.Fatal("bad statement: got no error")
	}
	if want := (cachedsql.WarmReport{Statements: 1}); rep != want {
		t.Errorf("report: got %+v, want %+v", rep, want)
	}
	if st := stats(t, db); st.Fills != 1 {
		t.Errorf("fills: got %d, want 1 (Warm went on after the error)", st.Fills)
	}

	// A write is refused, and nothing runs: the first statement is not warmed either.
	before := stats(t, db).Fills
	for _, q := range []string{`UPDATE users SET name = 'x' WHERE id = 3`, `WITH d AS (DELETE FROM users WHERE id = 3 RETURNING id) SELECT id FROM d`} {
		_, err = cachedsql.Warm(ctx, db,
			cachedsql.WarmStatement{Query: `SELECT name FROM users WHERE id = ?`, Args: []any{3}},
			cachedsql.WarmStatement{Query: q})
		if err == nil {
			t.Errorf("Warm(%q): no error", q)
		}
	}
	if got := userName(t, db, 3); got != "cy" {
		t.Errorf("user 3 after refused writes: %q, want cy", got)
	}
	if st := stats(t, db); st.Fills != before+1 { // the read just above
		t.Errorf("fills %d → %d: a refused Warm ran statements", before, st.Fills)
	}

	plain, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := cachedsql.Warm(ctx, plain); err == nil {
		t.Error("Warm of a database not opened by cachedsql: got no error")
	}
}
