package cachedsql_test

import (
	"context"
	"database/sql"
	"runtime"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
)

// readItem reads the name of item id through the gated query q.
func readItem(t *testing.T, db *sql.DB, q string, id int) string {
	t.Helper()
	var x int64
	var name string
	if err := db.QueryRowContext(context.Background(), q, id).Scan(&x, &name); err != nil {
		t.Fatalf("read item %d: %v", id, err)
	}
	return name
}

// readCounts reads item id and reports whether the read was a hit, a miss, or neither.
func readCounts(t *testing.T, db *sql.DB, q string, id int) (hits, misses uint64) {
	t.Helper()
	before := stats(t, db)
	readItem(t, db, q, id)
	after := stats(t, db)
	return after.Hits - before.Hits, after.Misses - before.Misses
}

// TestRefreshAhead: an entry hit HotHits times is refreshed by the background scanner once the clock
// is inside its refresh margin, so a read after its old expiry is a hit; an entry hit fewer times is
// not refreshed, and expires.
func TestRefreshAhead(t *testing.T) {
	const hotHits = 3
	const hot, cold = 1, 2
	opts := cachedsql.Options{Rules: mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true},
		TTL: stampedeTTL, RefreshAhead: true, HotHits: hotHits})}
	clock := injectClock(&opts)
	g, dbs, q := openGated(t, 1, opts)
	g.open()
	db := dbs[0]
	// Both entries are filled at t0 and expire at t0+TTL; the refresh margin is TTL/10 = 1s.
	readItem(t, db, q, hot)
	readItem(t, db, q, cold)
	for range hotHits {
		readItem(t, db, q, hot)
	}
	for range hotHits - 1 {
		readItem(t, db, q, cold)
	}

	// Inside the margin: the scanner refreshes the hot entry, which then expires a TTL later.
	refreshedAt := t0.Add(stampedeTTL - 500*time.Millisecond)
	scannerWaits(t, clock)
	clock.Set(refreshedAt)
	eventually(t, "the refresh of the hot entry", func() bool { return stats(t, db).Refreshes == 1 })
	scannerWaits(t, clock)
	clock.Set(t0.Add(stampedeTTL + time.Millisecond))
	if hits, misses := readCounts(t, db, q, hot); hits != 1 || misses != 0 {
		t.Errorf("hot entry after its old expiry: %d hits, %d misses; want a hit", hits, misses)
	}

	// The scan that refreshed the hot entry also saw the cold one inside its margin. A second refresh
	// of the hot entry, in its next margin, proves that scan is over.
	for range hotHits - 1 {
		readItem(t, db, q, hot)
	}
	scannerWaits(t, clock)
	clock.Set(refreshedAt.Add(stampedeTTL - 500*time.Millisecond))
	eventually(t, "the second refresh of the hot entry", func() bool { return stats(t, db).Refreshes == 2 })
	if hits, misses := readCounts(t, db, q, cold); hits != 0 || misses != 1 {
		t.Errorf("cold entry after its expiry: %d hits, %d misses; want a miss (it was refreshed)", hits, misses)
	}
	// Executions: two fills, two refreshes, the cold miss.
	if got := g.calls.Load(); got != 5 {
		t.Errorf("database executions: got %d, want 5", got)
	}
}

// scannerWaits returns once the refresh-ahead scanner waits for its next scan on c, so that moving c
// past it runs a scan.
func scannerWaits(t *testing.T, c *fakeClock) {
	t.Helper()
	eventually(t, "the scanner's timer", func() bool { return c.Pending() > 0 })
}

// TestCloseStopsRefresher: closing a database while a background refresh is running waits for it and
// leaves no goroutine behind.
func TestCloseStopsRefresher(t *testing.T) {
	before := runtime.NumGoroutine()
	opts := cachedsql.Options{Rules: mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true},
		TTL: stampedeTTL, StaleWhileRevalidate: time.Minute, RefreshAhead: true, HotHits: 1})}
	clock := injectClock(&opts)
	g, dbs, q := openGated(t, 1, opts)
	db := dbs[0]
	fillTimed(t, g, db, q, clock, queryTime)
	mustRead(t, db, q) // a hit: starts the refresh-ahead scanner too

	g.rearm()
	clock.Set(expiry.Add(time.Second))
	if got := mustRead(t, db, q); got != "one" {
		t.Fatalf("stale read: got %q, want %q", got, "one")
	}
	<-g.entered // the revalidation is running, held in the database
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	g.open()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	goroutinesSettle(t, before)
}
