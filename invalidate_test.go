package cachedsql_test

import (
	"context"
	"testing"

	"github.com/cachedsql/cachedsql"
)

// TestInvalidate: a write made outside the wrapper is seen once the application invalidates its table
// (or the whole database).
func TestInvalidate(t *testing.T) {
	bare, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	name := func() (n string) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `SELECT name FROM users WHERE id = 2`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	name()
	mustExec(t, bare, `UPDATE users SET name = 'bob2' WHERE id = 2`)
	if got := name(); got != "bob" {
		t.Fatalf("before Invalidate: %q, want the cached bob", got)
	}
	if err := cachedsql.Invalidate(ctx, db, "main.Users"); err != nil {
		t.Fatal(err)
	}
	if got := name(); got != "bob2" {
		t.Fatalf("after Invalidate(users): %q, want bob2", got)
	}
	mustExec(t, bare, `UPDATE users SET name = 'bob3' WHERE id = 2`)
	if err := cachedsql.Invalidate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := name(); got != "bob3" {
		t.Fatalf("after Invalidate(): %q, want bob3", got)
	}
	if st := stats(t, db); st.Invalidations < 2 {
		t.Errorf("invalidations %d, want at least 2", st.Invalidations)
	}
	if err := cachedsql.Invalidate(ctx, bare, "users"); err == nil {
		t.Error("Invalidate on a plain *sql.DB: no error")
	}
}
