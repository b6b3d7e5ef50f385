package cachedsql_test

import (
	"context"
	"database/sql"
	"reflect"
	"testing"

	"github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
)

func TestSQLiteMissThenHit(t *testing.T) {
	bare, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	const q = `SELECT id, name, score, born, avatar FROM users WHERE id >= ? ORDER BY id`
	want := queryAll(t, bare, ctx, q, 1)
	for i := range 3 {
		got := queryAll(t, db, ctx, q, 1)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read %d: got %#v, want %#v", i, got, want)
		}
	}
	st := stats(t, db)
	if st.Misses != 1 || st.Hits != 2 || st.Fills != 1 {
		t.Errorf("misses %d hits %d fills %d, want 1, 2, 1", st.Misses, st.Hits, st.Fills)
	}
	if got := st.Rules["all"]; got.Hits != 2 || got.Misses != 1 {
		t.Errorf("rule stats %+v, want 2 hits 1 miss", got)
	}
	// A different argument is a different key.
	queryAll(t, db, ctx, q, 2)
	if st := stats(t, db); st.Misses != 2 {
		t.Errorf("misses after another argument: %d, want 2", st.Misses)
	}
}

func TestSQLiteWriteInvalidates(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	const q = `SELECT sum(total) FROM orders`
	var before, after int64
	for range 2 {
		if err := db.QueryRowContext(ctx, q).Scan(&before); err != nil {
			t.Fatal(err)
		}
	}
	if st := stats(t, db); st.Hits != 1 {
		t.Fatalf("QueryRow was not cached: %+v", st)
	}
	mustExec(t, db, `UPDATE orders SET total = total + 1 WHERE id = ?`, 1)
	if err := db.QueryRowContext(ctx, q).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Fatalf("read after write: got %d, want %d", after, before+1)
	}
	// A write to another table leaves the entry valid.
	mustExec(t, db, `UPDATE users SET name = 'x' WHERE id = 3`)
	hits := stats(t, db).Hits
	if err := db.QueryRowContext(ctx, q).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if got := stats(t, db).Hits; got != hits+1 {
		t.Errorf("write to users invalidated a read of orders")
	}
}

func TestSQLiteReturningInvalidates(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	const q = `SELECT count(*) FROM orders`
	var n0, n1 int
	db.QueryRowContext(ctx, q).Scan(&n0)
	var id int
	if err := db.QueryRowContext(ctx, `INSERT INTO orders (user_id, total) VALUES (3, 1) RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, q).Scan(&n1); err != nil {
		t.Fatal(err)
	}
	if n1 != n0+1 {
		t.Fatalf("count after INSERT … RETURNING: got %d, want %d", n1, n0+1)
	}
}

func TestSQLiteTransactions(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	const q = `SELECT total FROM orders WHERE id = 3`
	read := func(db interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (v int) {
		t.Helper()
		if err := db.QueryRowContext(ctx, q).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	read(db) // fill

	t.Run("rollback keeps entries", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, `UPDATE orders SET total = 99 WHERE id = 3`)
		if got := read(tx); got != 99 {
			t.Errorf("read inside the transaction: got %d, want its own write 99", got)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		hits := stats(t, db).Hits
		if got := read(db); got != 5 {
			t.Errorf("after rollback: got %d, want 5", got)
		}
		if stats(t, db).Hits != hits+1 {
			t.Errorf("a rolled back transaction invalidated the entry")
		}
	})
	t.Run("commit invalidates", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, `UPDATE orders SET total = 42 WHERE id = 3`)
		// Not committed yet: other connections still read the old value, from the cache.
		if got := read(db); got != 5 {
			t.Errorf("before commit: got %d, want 5", got)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := read(db); got != 42 {
			t.Errorf("after commit: got %d, want 42", got)
		}
	})
	if st := stats(t, db); st.Bypasses[cachedsql.BypassTransaction] == 0 {
		t.Errorf("reads in a transaction were not bypassed: %+v", st.Bypasses)
	}
}

func TestSQLiteTextTransaction(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var v int
	db.QueryRowContext(ctx, `SELECT total FROM orders WHERE id = 1`).Scan(&v)
	mustExec(t, conn, `BEGIN`)
	mustExec(t, conn, `UPDATE orders SET total = 77 WHERE id = 1`)
	mustExec(t, conn, `COMMIT`)
	if err := db.QueryRowContext(ctx, `SELECT total FROM orders WHERE id = 1`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != 77 {
		t.Fatalf("after BEGIN/UPDATE/COMMIT as statements: got %d, want 77", v)
	}
}

func TestSQLiteSessionChangeBypasses(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExec(t, conn, `PRAGMA case_sensitive_like = ON`)
	queryAll(t, conn, ctx, `SELECT name FROM users WHERE name LIKE 'A%'`)
	if st := stats(t, db); st.Bypasses[cachedsql.BypassSessionChanged] != 1 || st.Misses != 0 {
		t.Errorf("read after PRAGMA: bypasses %v misses %d, want one session bypass", st.Bypasses, st.Misses)
	}
}

func TestContextControl(t *testing.T) {
	bare, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	const q = `SELECT name FROM users WHERE id = 1`
	name := func(ctx context.Context) (n string) {
		t.Helper()
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	name(ctx)
	name(cachedsql.WithBypass(ctx))
	if st := stats(t, db); st.Bypasses[cachedsql.BypassContext] != 1 || st.Hits != 0 {
		t.Errorf("WithBypass: %+v", st)
	}
	// A write outside the wrapper is invisible to the cache until the TTL ends or a forced refresh.
	mustExec(t, bare, `UPDATE users SET name = 'zed' WHERE id = 1`)
	if got := name(ctx); got != "ann" {
		t.Errorf("read after an outside write: got %q, want the cached %q", got, "ann")
	}
	if got := name(cachedsql.WithRefresh(ctx)); got != "zed" {
		t.Errorf("WithRefresh: got %q, want %q", got, "zed")
	}
	if got := name(ctx); got != "zed" {
		t.Errorf("after refresh: got %q, want %q", got, "zed")
	}
	if st := stats(t, db); st.Misses != 2 || st.Fills != 2 || st.Hits != 2 {
		t.Errorf("misses %d fills %d hits %d, want 2, 2, 2", st.Misses, st.Fills, st.Hits)
	}
}

func TestUnwrapThroughRaw(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		if _, ok := cachedsql.Unwrap(dc).(*sqlite3.SQLiteConn); !ok {
			t.Errorf("Unwrap gave %T, want *sqlite3.SQLiteConn", cachedsql.Unwrap(dc))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNotCacheableReads(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	for _, q := range []string{
		`SELECT random()`,
		`SELECT name FROM sqlite_master`,
		`SELECT datetime('now')`,
	} {
		queryAll(t, db, ctx, q)
		queryAll(t, db, ctx, q)
	}
	if st := stats(t, db); st.Hits != 0 || st.Misses != 0 || st.Bypasses[cachedsql.BypassNotCacheable] != 6 {
		t.Errorf("non-cacheable reads: %+v", st)
	}
}
