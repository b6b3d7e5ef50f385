package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// Steady load across expiry: readers ask for one hot key at a steady rate while its entry expires
// several times. With a plain TTL every reader active at the expiry misses and waits for the
// recompute (single flight makes it one query, but they all wait). XFetch recomputes before expiry,
// refresh-ahead in the background: readers do not miss.

// expiryQuerySecs is how long the hot key's query takes in the database.
const expiryQuerySecs = 0.05

// expiryMode is one way of handling expiry.
type expiryMode struct {
	name         string
	beta         float64 // the rule's Beta: negative turns XFetch off
	refreshAhead bool
}

var expiryModes = []expiryMode{
	{name: "ttl", beta: -1},
	{name: "xfetch", beta: 1},
	{name: "refresh-ahead", beta: -1, refreshAhead: true},
}

// expiryLoad is the shape of the load.
type expiryLoad struct {
	ttl      time.Duration
	expiries int           // the load runs for expiries TTLs and a half after the first fill
	readers  int           // goroutines
	every    time.Duration // each reader's read interval
}

// expiryResult counts what happened after the first fill.
type expiryResult struct {
	reads     int
	slow      int // reads that took at least the query's time: they waited on the database
	misses    uint64
	shared    uint64 // misses served by another caller's query
	early     uint64 // XFetch recomputes
	refreshes uint64 // background refreshes
	execs     int    // queries the database ran
	p99, max  time.Duration
}

// runExpiryLoad runs load against a schema, namespace and cache of tb's own in mode m.
func runExpiryLoad(tb testing.TB, m expiryMode, load expiryLoad) expiryResult {
	tb.Helper()
	q := stampedeQuery(expiryQuerySecs)
	dsn, bare := createStampedeSchema(tb, q)
	db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{
		Redis:     testenv.Redis(tb),
		Namespace: strings.TrimSuffix(testenv.Prefix(tb), ":"),
		Rules: mustRules(tb, cachedsql.Rule{Name: "hot", Match: cachedsql.Match{Default: true}, DependsOn: noTables, TTL: load.ttl,
			Beta: m.beta, RefreshAhead: m.refreshAhead}),
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	warmPool(tb, db, load.readers+1)
	if err := readKey(context.Background(), db, q, 1); err != nil { // the first fill
		tb.Fatal(err)
	}
	before, execsBefore := stats(tb, db), execCount(tb, bare, 1, 1)
	lat, err := readSteadily(db, q, load)
	if err != nil {
		tb.Fatal(err)
	}
	after := stats(tb, db)
	r := expiryResult{
		reads:     len(lat),
		misses:    after.Misses - before.Misses,
		shared:    after.SharedLoads - before.SharedLoads,
		early:     after.EarlyRecomputes - before.EarlyRecomputes,
		refreshes: after.Refreshes - before.Refreshes,
		execs:     execCount(tb, bare, 1, 1) - execsBefore,
		p99:       percentile(lat, 0.99),
		max:       percentile(lat, 1),
	}
	for _, d := range lat {
		if d >= time.Duration(expiryQuerySecs*float64(time.Second)) {
			r.slow++
		}
	}
	return r
}

// readKey reads key k with q and checks the answer.
func readKey(ctx context.Context, db *sql.DB, q string, k int) error {
	var got int
	if err := db.QueryRowContext(ctx, q, k).Scan(&got); err != nil {
		return err
	}
	if got != k {
		return errors.New("stampede: read the wrong key")
	}
	return nil
}

// readSteadily runs load.readers goroutines that each read key 1 every load.every until the load's
// time is up, and returns the latency of every read.
func readSteadily(db *sql.DB, q string, load expiryLoad) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(load.expiries+30)*load.ttl)
	defer cancel()
	end := time.Now().Add(time.Duration(load.expiries)*load.ttl + load.ttl/2)
	var (
		mu       sync.Mutex
		lat      []time.Duration
		firstErr atomic.Pointer[error]
		wg       sync.WaitGroup
	)
	for range load.readers {
		wg.Go(func() {
			tick := time.NewTicker(load.every)
			defer tick.Stop()
			var mine []time.Duration
			for now := time.Now(); now.Before(end) && firstErr.Load() == nil; now = <-tick.C {
				t0 := time.Now()
				if err := readKey(ctx, db, q, 1); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return nil, *p
	}
	return lat, nil
}

// TestExpiryUnderSteadyLoad: with a plain TTL the readers at each expiry miss and wait; with XFetch
// or refresh-ahead they do not, and the database still recomputes about once per expiry. The
// assertions compare the modes rather than timings, for a loaded machine.
func TestExpiryUnderSteadyLoad(t *testing.T) {
	load := expiryLoad{ttl: time.Second, expiries: 3, readers: 8, every: 10 * time.Millisecond}
	res := make(map[string]expiryResult)
	for _, m := range expiryModes {
		t.Run(m.name, func(t *testing.T) {
			r := runExpiryLoad(t, m, load)
			res[m.name] = r
			t.Logf("%d expiries: %d reads, %d slow (≥ query time), %d misses (%d shared), %d early recomputes, "+
				"%d refreshes, %d database executions; p99 %v, max %v",
				load.expiries, r.reads, r.slow, r.misses, r.shared, r.early, r.refreshes, r.execs, r.p99, r.max)
			if r.execs < 1 || r.execs > 2*load.expiries+1 {
				t.Errorf("%d database executions over %d expiries, want about one per expiry", r.execs, load.expiries)
			}
		})
	}
	plain := res["ttl"]
	if plain.misses < uint64(load.expiries) || plain.slow < load.expiries {
		t.Fatalf("plain TTL: %d misses, %d slow reads over %d expiries, want at least one each per expiry: "+
			"the test cannot see the expiry", plain.misses, plain.slow, load.expiries)
	}
	for _, name := range []string{"xfetch", "refresh-ahead"} {
		r, ok := res[name]
		if !ok {
			continue
		}
		if 2*r.misses > plain.misses {
			t.Errorf("%s: %d misses after the first fill, want well under the %d of a plain TTL "+
				"(%d early recomputes, %d refreshes, %d database executions)",
				name, r.misses, plain.misses, r.early, r.refreshes, r.execs)
		}
	}
	// Reads slower than the query are what a reader sees, but a loaded machine makes reads slow too:
	// compared in the log, not asserted (the misses above count what the cache decided).
	t.Logf("reads at least as slow as the query: %d with a plain TTL, %d with refresh-ahead, %d with xfetch",
		plain.slow, res["refresh-ahead"].slow, res["xfetch"].slow)
	if r := res["xfetch"]; r.early == 0 {
		t.Errorf("xfetch: no early recompute")
	}
}
