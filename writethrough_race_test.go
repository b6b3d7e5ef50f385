package cachedsql_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
)

// TestWriteThroughContention runs concurrent write-throughs of a few rows on PostgreSQL (autocommit
// and in transactions) while readers read them, then checks the end state: every row's entry is cached
// and holds the row as last committed. The forced interleavings of TestWriteThroughOrder
// show the two orders that matter; this shows no other order breaks it.
func TestWriteThroughContention(t *testing.T) {
	const (
		rows    = 4
		writers = 4
		readers = 3
		writes  = 150
	)
	const byID = `SELECT id, v FROM wt_items WHERE id = $1`
	bare, db, _ := pgRedis(t, cachedsql.Options{Rules: mustRules(t, cachedsql.Rule{Name: "item",
		Match: cachedsql.Match{SQL: byID}, Key: []string{"id"}, WriteThrough: true, TTL: time.Hour})})
	db.SetMaxOpenConns(writers + readers + 2)
	mustExec(t, bare, `CREATE TABLE wt_items (id int PRIMARY KEY, v bigint NOT NULL)`)
	mustExec(t, bare, `INSERT INTO wt_items SELECT g, 0 FROM generate_series(1, $1::int) g`, rows)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range writes {
				id := 1 + rnd.IntN(rows)
				var err error
				if i%3 == 0 {
					err = func() error {
						tx, err := db.BeginTx(ctx, nil)
						if err != nil {
							return err
						}
						if _, err := tx.ExecContext(ctx, `UPDATE wt_items SET v = v + 1 WHERE id = $1`, id); err != nil {
							tx.Rollback()
							return err
						}
						return tx.Commit()
					}()
				} else {
					_, err = db.ExecContext(ctx, `UPDATE wt_items SET v = v + 1 WHERE id = $1`, id)
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				var id, v int64
				if err := db.QueryRowContext(ctx, byID, 1+(r+n)%rows).Scan(&id, &v); err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var total int64
	for id := 1; id <= rows; id++ {
		var want, got int64
		if err := bare.QueryRowContext(ctx, `SELECT v FROM wt_items WHERE id = $1`, id).Scan(&want); err != nil {
			t.Fatal(err)
		}
		total += want
		h, _ := hitsOf(t, db, func() {
			if err := db.QueryRowContext(ctx, byID, id).Scan(new(int64), &got); err != nil {
				t.Fatal(err)
			}
		})
		// The last write's write-through read the last token: its image is the one stored.
		if got != want || h != 1 {
			t.Errorf("row %d: read %d (hit %v), last committed %d; want it, a hit", id, got, h == 1, want)
		}
	}
	if total != writers*writes {
		t.Errorf("rows sum to %d, want %d writes", total, writers*writes)
	}
	st := stats(t, db)
	t.Logf("write-throughs %d, skipped fills %d, hits %d, misses %d", st.WriteThroughs, st.FillsSkipped, st.Hits, st.Misses)
	if st.WriteThroughs == 0 {
		t.Error("no write-through happened")
	}
}
