package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
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

// runExpiryLoad runs load in real time against PostgreSQL and Redis, in a schema, namespace and cache
// of tb's own, in mode m (BenchmarkStampedeExpiry; TestExpiryUnderSteadyLoad runs fakeExpiryLoad).
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
	return newExpiryResult(before, after, execCount(tb, bare, 1, 1)-execsBefore, lat)
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
// assertions compare the modes rather than timings, for a loaded machine. The load runs on a fake
// clock (fakeExpiryLoad): 3.5 TTLs of a second take a fraction of one.
func TestExpiryUnderSteadyLoad(t *testing.T) {
	load := expiryLoad{ttl: time.Second, expiries: 3, readers: 8, every: 10 * time.Millisecond}
	res := make(map[string]expiryResult)
	for _, m := range expiryModes {
		t.Run(m.name, func(t *testing.T) {
			r := fakeExpiryLoad(t, m, load)
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

// The fake-clock load: the query waits on the cache's fake clock for expiryQuerySecs, in a SQLite
// function (slowfake), and each reader waits on it between reads. The test moves the clock to its next
// timer only when nothing else can happen first: no reader is between starting a read and its lookup,
// and either every reader waits for its next read or a query is waiting on the clock (the readers still
// reading wait for that query). The cache uses its default in-process store, whose expiry follows the
// fake clock; Redis expires keys by its own clock, which a fake one cannot move.

// fakeQuery is the database side of one fake-clock load.
type fakeQuery struct {
	clock *clock.Fake
	execs atomic.Int64
	// mu guards until.
	mu sync.Mutex
	// until holds when each query under way ends on the clock.
	until map[*int]time.Time
}

// running reports whether a query is under way at now: one whose end is later.
func (fq *fakeQuery) running(now time.Time) bool {
	fq.mu.Lock()
	defer fq.mu.Unlock()
	for _, end := range fq.until {
		if end.After(now) {
			return true
		}
	}
	return false
}

var (
	fakeQueriesMu sync.Mutex
	fakeQueries   = map[string]*fakeQuery{}
	fakeSlowOnce  sync.Once
)

// registerFakeSlow registers the driver "sqlite3-fakeslow", whose function slowfake(name, k) counts an
// execution and returns k once the fake clock of the load named name has moved expiryQuerySecs.
func registerFakeSlow() {
	fakeSlowOnce.Do(func() {
		sql.Register("sqlite3-fakeslow", &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			return c.RegisterFunc("slowfake", func(name string, k int64) int64 {
				fakeQueriesMu.Lock()
				fq := fakeQueries[name]
				fakeQueriesMu.Unlock()
				d := time.Duration(expiryQuerySecs * float64(time.Second))
				id := new(int)
				fq.mu.Lock()
				done, _ := fq.clock.NewTimer(d)
				fq.until[id] = fq.clock.Now().Add(d)
				fq.mu.Unlock()
				<-done
				fq.mu.Lock()
				delete(fq.until, id)
				fq.mu.Unlock()
				fq.execs.Add(1)
				return k
			}, true) // declared deterministic, as gate is: the cache must not refuse the read for it
		}})
	})
}

// fakeExpiryLoad runs load on a fake clock in mode m, against a SQLite database and a cache of tb's own.
func fakeExpiryLoad(tb testing.TB, m expiryMode, load expiryLoad) expiryResult {
	tb.Helper()
	registerFakeSlow()
	name := strings.ReplaceAll(tb.Name(), "/", "_")
	fq := &fakeQuery{clock: clock.NewFake(t0), until: make(map[*int]time.Time)}
	fakeQueriesMu.Lock()
	fakeQueries[name] = fq
	fakeQueriesMu.Unlock()
	tb.Cleanup(func() {
		fakeQueriesMu.Lock()
		delete(fakeQueries, name)
		fakeQueriesMu.Unlock()
	})
	q := fmt.Sprintf(`SELECT slowfake('%s', id) AS k FROM items WHERE id = ?`, name)
	if st := keying.Analyze(q); !st.Cacheable {
		tb.Fatalf("keying.Analyze(%q): not cacheable (%s): the test would not exercise the cache", q, st.Reason)
	}
	path := filepath.Join(tb.TempDir(), "expiry.db")
	bare, err := sql.Open("sqlite3", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer bare.Close()
	mustExec(tb, bare, `CREATE TABLE items (id INTEGER PRIMARY KEY)`)
	mustExec(tb, bare, `INSERT INTO items VALUES (1)`)
	opts := cachedsql.Options{Rules: mustRules(tb, cachedsql.Rule{Name: "hot", Match: cachedsql.Match{Default: true},
		TTL: load.ttl, Beta: m.beta, RefreshAhead: m.refreshAhead})}
	// lookingUp counts the readers on their way to a lookup: from the end of one read (asleep until
	// the next, or woken and not yet looked up) to the lookup of the next.
	var lookingUp atomic.Int64
	cachedsql.Hooks(&opts, func() { lookingUp.Add(-1) }, nil, nil)
	cachedsql.InjectClock(&opts, fq.clock, nil)
	db, err := cachedsql.Open("sqlite3-fakeslow", path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Close waits for a background refresh, which may be waiting on the clock: keep it moving.
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		for {
			select {
			case err := <-closed:
				if err != nil {
					tb.Error(err)
				}
				return
			default:
				fq.clock.AdvanceToNext()
				runtime.Gosched()
			}
		}
	})
	warmPool(tb, db, load.readers+1)
	first := make(chan error, 1)
	lookingUp.Add(1)
	go func() { first <- readKey(context.Background(), db, q, 1) }() // the first fill
	for !fq.running(fq.clock.Now()) {
		runtime.Gosched()
	}
	fq.clock.AdvanceToNext()
	if err := <-first; err != nil {
		tb.Fatal(err)
	}
	before, execsBefore := stats(tb, db), fq.execs.Load()
	if before.Misses != 1 {
		tb.Fatalf("the first read: %d misses, want 1: the cache does not cache the query (%+v)", before.Misses, before.Bypasses)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(load.expiries+30)*load.ttl)
	defer cancel()
	end := fq.clock.Now().Add(time.Duration(load.expiries)*load.ttl + load.ttl/2)
	var (
		mu       sync.Mutex
		lat      []time.Duration
		firstErr atomic.Pointer[error]
		exited   atomic.Int64
		wg       sync.WaitGroup
	)
	// wake[i] is when reader i next reads (Unix ns); it is asleep while that is after the clock's time.
	// An exited reader's is math.MinInt64.
	wake := make([]atomic.Int64, load.readers)
	for i := range load.readers {
		lookingUp.Add(1)
		wg.Go(func() {
			var mine []time.Duration
			next := fq.clock.Now()
			for now := next; ; now = fq.clock.Now() {
				if !now.Before(end) || firstErr.Load() != nil {
					lookingUp.Add(-1)
					break
				}
				if err := readKey(ctx, db, q, 1); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					break
				}
				mine = append(mine, fq.clock.Now().Sub(now))
				// The next tick after the read, as a ticker drops the ticks a slow read missed.
				for next = next.Add(load.every); !next.After(fq.clock.Now()); next = next.Add(load.every) {
				}
				lookingUp.Add(1)
				tick, _ := fq.clock.NewTimer(next.Sub(fq.clock.Now()))
				wake[i].Store(next.UnixNano())
				<-tick
			}
			wake[i].Store(math.MinInt64)
			exited.Add(1)
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	// Move the clock once no reader is on its way to a lookup (every reader not asleep has looked up:
	// it is finishing a hit or waits for a query), and either every reader is asleep or a query is
	// under way, which the readers still reading wait for.
	for exited.Load() < int64(load.readers) {
		now := fq.clock.Now()
		asleep := 0
		for i := range wake {
			if wake[i].Load() > now.UnixNano() {
				asleep++
			}
		}
		idle := asleep+int(exited.Load()) == load.readers || fq.running(now)
		if !idle || lookingUp.Load() != int64(asleep) || !fq.clock.AdvanceToNext() {
			runtime.Gosched()
		}
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		tb.Fatal(*p)
	}
	after := stats(tb, db)
	return newExpiryResult(before, after, int(fq.execs.Load()-execsBefore), lat)
}

// newExpiryResult sums up one expiry run from the cache's counters before and after it, the database
// executions it caused, and the latency of each read.
func newExpiryResult(before, after cachedsql.Stats, execs int, lat []time.Duration) expiryResult {
	r := expiryResult{
		reads:     len(lat),
		misses:    after.Misses - before.Misses,
		shared:    after.SharedLoads - before.SharedLoads,
		early:     after.EarlyRecomputes - before.EarlyRecomputes,
		refreshes: after.Refreshes - before.Refreshes,
		execs:     execs,
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
