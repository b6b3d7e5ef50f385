package cachedsql_test

import (
	"context"
	"database/sql"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// Tests of the time-driven stampede features (XFetch, stale windows) on an engine clock and an XFetch
// random source the test sets by hand: no test waits for time to pass.

// fakeClock is the engine clock of a test cache and the source of XFetch's random numbers.
type fakeClock struct {
	*clock.Fake
	mu   sync.Mutex
	rand float64
}

// t0 is when every fake clock starts.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// injectClock makes opts' caches read time from a fake clock starting at t0, and XFetch draw 1 (never
// early) until the test says otherwise.
func injectClock(opts *cachedsql.Options) *fakeClock {
	c := &fakeClock{Fake: clock.NewFake(t0), rand: 1}
	cachedsql.InjectClock(opts, c.Fake, c.Rand)
	return c
}

func (c *fakeClock) Rand() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rand
}

// SetRand makes XFetch draw u from now on.
func (c *fakeClock) SetRand(u float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rand = u
}

// rearm closes the gate again after open: later executions block until the next open.
func (g *gatedDB) rearm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.release = make(chan struct{})
}

// fillTimed fills the entry of q (id 1) through db with a query that takes d on the clock: the read is
// held in the gate while the clock moves. The gate is open afterwards. The entry is created at the
// clock's time plus d, and expires a TTL later.
func fillTimed(t *testing.T, g *gatedDB, db *sql.DB, q string, c *fakeClock, d time.Duration) {
	t.Helper()
	done := make(chan error)
	go func() {
		_, err := readGated(context.Background(), db, q)
		done <- err
	}()
	<-g.entered
	c.Advance(d)
	g.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// mustRead reads the name of item 1 through the gated query q.
func mustRead(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	name, err := readGated(context.Background(), db, q)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return name
}

// bareGated opens the database file behind db directly, to change rows without the cache knowing.
func bareGated(t *testing.T, db *sql.DB) *sql.DB {
	t.Helper()
	var path string
	err := db.QueryRowContext(cachedsql.WithBypass(context.Background()),
		`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	return bare
}

// wantStale checks a cache's StaleServed counters.
func wantStale(t *testing.T, db *sql.DB, want map[cachedsql.StaleReason]uint64) {
	t.Helper()
	if got := stats(t, db).StaleServed; !maps.Equal(got, want) {
		t.Errorf("StaleServed: got %v, want %v", got, want)
	}
}

const (
	stampedeTTL = 10 * time.Second
	queryTime   = 100 * time.Millisecond // the measured query time of fillTimed entries
)

// expiry is when an entry filled by fillTimed from t0 expires.
var expiry = t0.Add(queryTime + stampedeTTL)

// TestXFetch: a hit close to expiry, drawing a small random number, recomputes the entry early; a
// hit drawing a number near 1, or far from expiry, or under a rule with early recomputation off,
// does not.
func TestXFetch(t *testing.T) {
	tests := []struct {
		name      string
		beta      float64
		at        time.Time // when the hit happens
		rand      float64
		wantEarly bool
	}{
		// gap = Δ·β·−ln(rand) = 100ms·20.7 ≈ 2s, past expiry 50ms away.
		{"near expiry small rand", 0, expiry.Add(-50 * time.Millisecond), 1e-9, true},
		// gap ≈ 0.1ms, short of expiry 50ms away.
		{"near expiry rand near 1", 0, expiry.Add(-50 * time.Millisecond), 0.999, false},
		// gap ≈ 2s, short of expiry 9s away.
		{"far from expiry", 0, expiry.Add(-9 * time.Second), 1e-9, false},
		{"beta negative", -1, expiry.Add(-50 * time.Millisecond), 1e-9, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := cachedsql.Options{Rules: mustRules(t, cachedsql.Rule{Name: "all",
				Match: cachedsql.Match{Default: true}, TTL: stampedeTTL, Beta: tt.beta})}
			clock := injectClock(&opts)
			g, dbs, q := openGated(t, 1, opts)
			db := dbs[0]
			fillTimed(t, g, db, q, clock, queryTime)

			clock.Set(tt.at)
			clock.SetRand(tt.rand)
			if got := mustRead(t, db, q); got != "one" {
				t.Errorf("hit: got %q, want %q", got, "one")
			}
			wantCalls, wantEarly := int64(1), uint64(0)
			if tt.wantEarly {
				wantCalls, wantEarly = 2, 1
			}
			if got := stats(t, db).EarlyRecomputes; got != wantEarly {
				t.Errorf("EarlyRecomputes: got %d, want %d", got, wantEarly)
			}
			if got := g.calls.Load(); got != wantCalls {
				t.Errorf("database executions: got %d, want %d", got, wantCalls)
			}
			if !tt.wantEarly {
				return
			}
			// The recompute stored a new entry expiring a TTL after it: just past the old expiry, a
			// read is a hit.
			clock.Set(expiry.Add(time.Millisecond))
			clock.SetRand(1)
			before := stats(t, db)
			mustRead(t, db, q)
			after := stats(t, db)
			if after.Hits != before.Hits+1 || after.Misses != before.Misses {
				t.Errorf("read past the old expiry: hits %d→%d, misses %d→%d; want one more hit (the entry's expiry did not move)",
					before.Hits, after.Hits, before.Misses, after.Misses)
			}
		})
	}
}

// TestXFetchLeaseHeldElsewhere: while another process holds the fill lease of an entry, a hit that
// XFetch picks for early recomputation goes on serving the current copy without querying.
func TestXFetchLeaseHeldElsewhere(t *testing.T) {
	opts := cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t),
		Rules: mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: stampedeTTL})}
	clock := injectClock(&opts)
	g, dbs, q := openGated(t, 2, opts)
	early, other := dbs[0], dbs[1]
	fillTimed(t, g, early, q, clock, queryTime)

	// The other process refreshes the entry and is held in the database, holding the lease.
	g.rearm()
	otherDone := make(chan error)
	go func() {
		_, err := readGated(cachedsql.WithRefresh(context.Background()), other, q)
		otherDone <- err
	}()
	<-g.entered

	clock.Set(expiry.Add(-50 * time.Millisecond))
	clock.SetRand(1e-9)
	if got := mustRead(t, early, q); got != "one" {
		t.Errorf("early reader: got %q, want the current %q", got, "one")
	}
	st := stats(t, early)
	if st.EarlyRecomputes != 1 || st.LeasesContended != 1 {
		t.Errorf("early reader: EarlyRecomputes %d, LeasesContended %d; want 1 and 1", st.EarlyRecomputes, st.LeasesContended)
	}
	if got := g.calls.Load(); got != 2 {
		t.Errorf("database executions: got %d, want 2 (the fill and the other process's refresh)", got)
	}
	g.open()
	if err := <-otherDone; err != nil {
		t.Fatal(err)
	}
}

// TestStaleWhileRevalidate: past expiry but inside the window, a read gets the old copy at once and
// the entry is refreshed in the background; past the window, a read is a miss.
func TestStaleWhileRevalidate(t *testing.T) {
	const window = 30 * time.Second
	setup := func(t *testing.T) (*fakeClock, *gatedDB, *sql.DB, string) {
		opts := cachedsql.Options{Rules: mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true},
			TTL: stampedeTTL, StaleWhileRevalidate: window})}
		clock := injectClock(&opts)
		g, dbs, q := openGated(t, 1, opts)
		fillTimed(t, g, dbs[0], q, clock, queryTime)
		mustExec(t, bareGated(t, dbs[0]), `UPDATE items SET name = 'uno' WHERE id = 1`) // unknown to the cache
		return clock, g, dbs[0], q
	}
	t.Run("inside the window", func(t *testing.T) {
		clock, g, db, q := setup(t)
		clock.Set(expiry.Add(5 * time.Second))
		if got := mustRead(t, db, q); got != "one" {
			t.Errorf("read inside the window: got %q, want the old copy %q", got, "one")
		}
		wantStale(t, db, map[cachedsql.StaleReason]uint64{cachedsql.StaleRevalidate: 1})
		eventually(t, "the background refresh", func() bool { return stats(t, db).Refreshes == 1 })
		before := stats(t, db)
		if got := mustRead(t, db, q); got != "uno" {
			t.Errorf("read after the refresh: got %q, want %q", got, "uno")
		}
		if after := stats(t, db); after.Hits != before.Hits+1 {
			t.Errorf("read after the refresh: hits %d→%d, want a hit", before.Hits, after.Hits)
		}
		if got := g.calls.Load(); got != 2 {
			t.Errorf("database executions: got %d, want 2 (the fill and the refresh)", got)
		}
		wantStale(t, db, map[cachedsql.StaleReason]uint64{cachedsql.StaleRevalidate: 1})
	})
	t.Run("past the window", func(t *testing.T) {
		clock, g, db, q := setup(t)
		clock.Set(expiry.Add(window + time.Millisecond))
		if got := mustRead(t, db, q); got != "uno" {
			t.Errorf("read past the window: got %q, want %q", got, "uno")
		}
		st := stats(t, db)
		if st.Misses != 2 || st.Refreshes != 0 {
			t.Errorf("Misses %d, Refreshes %d; want 2 and 0", st.Misses, st.Refreshes)
		}
		if got := g.calls.Load(); got != 2 {
			t.Errorf("database executions: got %d, want 2", got)
		}
		wantStale(t, db, map[cachedsql.StaleReason]uint64{})
	})
}

// TestStaleIfError: past expiry but inside the window, a read whose query fails gets the old copy;
// past the window it gets the database's error.
func TestStaleIfError(t *testing.T) {
	const window = 30 * time.Second
	tests := []struct {
		name    string
		at      time.Time
		wantErr bool
	}{
		{"inside the window", expiry.Add(5 * time.Second), false},
		{"past the window", expiry.Add(window + time.Millisecond), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := cachedsql.Options{Rules: mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true},
				TTL: stampedeTTL, StaleIfError: window})}
			clock := injectClock(&opts)
			g, dbs, q := openGated(t, 1, opts)
			db := dbs[0]
			fillTimed(t, g, db, q, clock, queryTime)
			g.fail.Store(true)
			clock.Set(tt.at)
			name, err := readGated(context.Background(), db, q)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "gate: database failure") {
					t.Errorf("read past the window: got %q, %v; want the database's error", name, err)
				}
				wantStale(t, db, map[cachedsql.StaleReason]uint64{})
				return
			}
			if err != nil || name != "one" {
				t.Errorf("read inside the window: got %q, %v; want the old copy %q", name, err, "one")
			}
			wantStale(t, db, map[cachedsql.StaleReason]uint64{cachedsql.StaleIfError: 1})
			if got := g.calls.Load(); got != 2 {
				t.Errorf("database executions: got %d, want 2 (the fill and the failed query)", got)
			}
		})
	}
}

// TestStaleWindowsAfterWrite: a write through the cache makes every older copy unusable, stale
// windows included.
func TestStaleWindowsAfterWrite(t *testing.T) {
	const window = 30 * time.Second
	tests := []struct {
		name   string
		rule   cachedsql.Rule
		failDB bool
	}{
		{"stale_while_revalidate", cachedsql.Rule{StaleWhileRevalidate: window}, false},
		{"stale_if_error", cachedsql.Rule{StaleIfError: window}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rule
			r.Name, r.Match, r.TTL = "all", cachedsql.Match{Default: true}, stampedeTTL
			opts := cachedsql.Options{Rules: mustRules(t, r)}
			clock := injectClock(&opts)
			g, dbs, q := openGated(t, 1, opts)
			db := dbs[0]
			fillTimed(t, g, db, q, clock, queryTime)
			mustExec(t, db, `UPDATE items SET name = 'uno' WHERE id = 1`)
			g.fail.Store(tt.failDB)
			clock.Set(expiry.Add(5 * time.Second))
			name, err := readGated(context.Background(), db, q)
			switch {
			case name == "one":
				t.Errorf("read after a write: got the pre-write copy %q", name)
			case tt.failDB && err == nil:
				t.Errorf("read after a write, database failing: got %q, want the database's error", name)
			case !tt.failDB && (err != nil || name != "uno"):
				t.Errorf("read after a write: got %q, %v; want %q", name, err, "uno")
			}
			wantStale(t, db, map[cachedsql.StaleReason]uint64{})
		})
	}
}
