package cachedsql_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// pauseFill returns a beforeFill hook that, once armed, holds the first fill that reaches it until
// release is closed, closing paused when it gets there.
func pauseFill() (hook func(), arm func(), paused, release chan struct{}) {
	var armed atomic.Bool
	var taken atomic.Bool
	paused, release = make(chan struct{}), make(chan struct{})
	hook = func() {
		if armed.Load() && taken.CompareAndSwap(false, true) {
			close(paused)
			<-release
		}
	}
	return hook, func() { armed.Store(true) }, paused, release
}

// TestWriteThroughOrder forces the interleavings in which an older image of a row reaches the store
// after a newer one, and checks that the newer one stays: the entry is a hit with the last committed
// values. Without the row token's guard the older image would replace it (and, recorded under an old
// token, be a miss).
func TestWriteThroughOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(t *testing.T, db execQuerier) // the operation whose fill is held
	}{
		{"two write-throughs", func(t *testing.T, db execQuerier) {
			mustExec(t, db, `UPDATE users SET name = ? WHERE id = ?`, "first", 2)
		}},
		{"a read's fill and a write-through", func(t *testing.T, db execQuerier) {
			queryAll(t, db, context.Background(), userByID, 2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeVariants(t, func(t *testing.T, opts cachedsql.Options) {
				hook, arm, paused, release := pauseFill()
				cachedsql.Hooks(&opts, nil, nil, hook)
				opts.Rules = rowRules(t, true)
				_, db := openSQLite(t, opts)
				if tc.name == "two write-throughs" {
					userName(t, db, 2) // cached: the write-through replaces it
				}
				arm()
				done := make(chan struct{})
				go func() {
					defer close(done)
					tc.first(t, db)
				}()
				<-paused
				skipped := stats(t, db).FillsSkipped
				mustExec(t, db, `UPDATE users SET name = ? WHERE id = ?`, "second", 2)
				close(release)
				<-done
				if got := stats(t, db).FillsSkipped - skipped; got != 1 {
					t.Errorf("fills skipped: %d, want 1 (the older image)", got)
				}
				h, m := hitsOf(t, db, func() {
					if got := userName(t, db, 2); got != "second" {
						t.Errorf("user 2 = %q, want second", got)
					}
				})
				if h != 1 || m != 0 {
					t.Errorf("read after both: %d hits, %d misses; want a hit", h, m)
				}
			})
		})
	}
}

// execQuerier is what both *sql.DB and *sql.Tx offer.
type execQuerier interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// TestRowKeysLearntFromStore checks two processes (two *sql.DB here, sharing Redis) whose rules
// differ: only the first has the row rule. Writes by the second, pinned or not, must still reach the
// first's row entries, precisely.
func TestRowKeysLearntFromStore(t *testing.T) {
	rdb, ns := testenv.Redis(t), namespace(t)
	path, _, rowDB := openSQLitePath(t, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: rowRules(t, false)})
	other, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: cacheAll(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	warmRows(t, rowDB)
	mustExec(t, other, `UPDATE users SET name = ? WHERE id = ?`, "bea", 2)
	expectRows(t, rowDB, "after a pinned write by the other", []int{1, 3}, false, map[int]string{2: "bea"})
	warmRows(t, rowDB)
	tx, err := other.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, `UPDATE users SET name = ? WHERE id = ?`, "cee", 3)
	mustExec(t, tx, `UPDATE users SET name = ? WHERE id = ?`, "bee", 2)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	expectRows(t, rowDB, "after a transaction of pinned writes by the other", []int{1}, false, map[int]string{2: "bee", 3: "cee"})
	warmRows(t, rowDB)
	mustExec(t, other, `UPDATE users SET name = ? WHERE name = ?`, "abe", "ann")
	expectRows(t, rowDB, "after an unpinned write by the other", nil, false, map[int]string{1: "abe"})
	warmRows(t, rowDB)
	if err := cachedsql.Invalidate(context.Background(), other, "users"); err != nil {
		t.Fatal(err)
	}
	expectRows(t, rowDB, "after Invalidate by the other", nil, false, nil)
}

// TestWriteThroughResultSets checks write_through on a result-set rule: after a write, the rule's hot
// entries that read the written table are recomputed before the write returns (hits with new values),
// and entries of other tables are left alone.
func TestWriteThroughResultSets(t *testing.T) {
	rdb, ns := testenv.Redis(t), namespace(t)
	rules := mustRules(t, cachedsql.Rule{Name: "sets", Match: cachedsql.Match{Default: true}, TTL: time.Minute, WriteThrough: true})
	_, db := openSQLite(t, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: rules})
	ctx := context.Background()
	const orderTotal = `SELECT sum(total) FROM orders WHERE user_id = ?`
	for range 3 { // a miss, then hits: hot
		queryAll(t, db, ctx, countUsers)
		queryAll(t, db, ctx, orderTotal, 1)
	}
	eventually(t, "the hot set to list both entries", func() bool {
		sets := ruleKeys(t, rdb, ns, keying.KeyHot, "sets")
		return len(sets) == 1 && rdb.ZCard(ctx, sets[0]).Val() == 2
	})
	before := stats(t, db)
	mustExec(t, db, `INSERT INTO users (id, name) VALUES (?, ?)`, 9, "ivy")
	if got := stats(t, db).WriteThroughs - before.WriteThroughs; got != 1 {
		t.Fatalf("write-throughs: %d, want 1 (the count; the orders total reads another table)", got)
	}
	var n int
	h, m := hitsOf(t, db, func() {
		if err := db.QueryRowContext(ctx, countUsers).Scan(&n); err != nil {
			t.Fatal(err)
		}
	})
	if n != 4 || h != 1 || m != 0 {
		t.Fatalf("count after insert = %d (%d hits, %d misses), want 4 and a hit", n, h, m)
	}
	if h, _ := hitsOf(t, db, func() { queryAll(t, db, ctx, orderTotal, 1) }); h != 1 {
		t.Fatal("orders total: not a hit after a write to users")
	}
}

// TestRowKeyRegisteredAgainAfterFlush: a flush of the namespace removes the key registry with
// everything else; the process with the row rule registers its key again before it fills anew, so a
// process without the rule still finds it and invalidates the row it writes.
func TestRowKeyRegisteredAgainAfterFlush(t *testing.T) {
	rdb, ns := testenv.Redis(t), namespace(t)
	path, _, rowDB := openSQLitePath(t, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: rowRules(t, false)})
	other, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: cacheAll(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	userName(t, rowDB, 1)
	if keys := scanKeys(t, rdb, ns+":*"); len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil { // as `cachedsql flush -all` does
			t.Fatal(err)
		}
	}
	userName(t, rowDB, 1)
	if h, _ := hitsOf(t, rowDB, func() { userName(t, rowDB, 1) }); h != 1 {
		t.Fatal("row not cached again after the flush")
	}
	mustExec(t, other, `UPDATE users SET name = ? WHERE id = ?`, "abe", 1)
	if got := userName(t, rowDB, 1); got != "abe" {
		t.Fatalf("row after another process's write: %q, want abe", got)
	}
}
