package cachedsql_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// TestInvalidationLog checks that writes through the wrapper are logged in Redis, newest first, with
// their statement (its first word and its sqlc name or fingerprint, never its text) and tables, and
// that a commit is logged with the tables of its transaction; writes pinned to rows of a table with a row
// rule say how many rows.
func TestInvalidationLog(t *testing.T) {
	rdb := testenv.Redis(t)
	ns := namespace(t)
	_, db := openSQLite(t, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: rowRules(t, false)})
	ctx := context.Background()

	update := `UPDATE users SET name = 'ann2' WHERE id = 1`
	mustExec(t, db, update)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, `UPDATE users SET score = 2 WHERE id = 2`)
	mustExec(t, tx, `INSERT INTO orders VALUES (9, 2, 7)`)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	named := "-- name: SetTotal :exec\nUPDATE orders SET total = 1 WHERE id = 1"
	mustExec(t, db, named)

	var keys []string
	iter := rdb.Scan(ctx, 0, ns+":log:*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("log keys = %q, want one", keys)
	}
	got, err := store.NewRedis(rdb).RecentLog(ctx, keys[0], 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.LogEntry{
		{Cause: "update SetTotal", Tables: []string{"orders"}, Text: "update orders set total = ? where id = ?"},
		{Cause: "COMMIT", Tables: []string{"orders", "users"}, Rows: 1},
		{Cause: "update (fingerprint " + keying.Analyze(update).Fingerprint + ")", Tables: []string{"users"}, Rows: 1,
			Text: "update users set name = ? where id = ?"},
	}
	for _, e := range got {
		if strings.Contains(e.Cause, "ann2") || strings.Contains(e.Text, "ann2") {
			t.Errorf("log entry %q %q holds a literal value of its statement", e.Cause, e.Text)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("log = %+v, want %d entries", got, len(want))
	}
	for i := range want {
		if got[i].Cause != want[i].Cause || !slices.Equal(got[i].Tables, want[i].Tables) || got[i].Rows != want[i].Rows ||
			got[i].Text != want[i].Text {
			t.Errorf("log[%d] = %q %q %d rows %q, want %q %q %d rows %q", i, got[i].Cause, got[i].Tables, got[i].Rows,
				got[i].Text, want[i].Cause, want[i].Tables, want[i].Rows, want[i].Text)
		}
		if got[i].Time.IsZero() {
			t.Errorf("log[%d] has no time", i)
		}
	}
}
