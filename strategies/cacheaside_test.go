package strategies

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/lockstore"
)

// These tests drive CacheAside directly, on the in-process store, with a Subject that records what it
// hears. The root package's tests drive the same code through database/sql, on Redis and PostgreSQL.

// listRows is a one-column result.
type listRows struct {
	vals []int64
	i    int
}

func (r *listRows) Columns() []string { return []string{"n"} }
func (r *listRows) Close() error      { return nil }
func (r *listRows) Next(dest []driver.Value) error {
	if r.i >= len(r.vals) {
		return io.EOF
	}
	dest[0] = r.vals[r.i]
	r.i++
	return nil
}

// subject records the events of a read.
type subject struct {
	mu     sync.Mutex
	counts map[string]int
}

func (s *subject) add(ev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = make(map[string]int)
	}
	s.counts[ev]++
}

func (s *subject) count(ev string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[ev]
}

func (s *subject) Hit(context.Context, time.Time)     { s.add("hit") }
func (s *subject) Miss(context.Context)               { s.add("miss") }
func (s *subject) Bypass(context.Context, Bypass)     { s.add("bypass") }
func (s *subject) Stale(context.Context, StaleReason) { s.add("stale") }
func (s *subject) Stampede(_ context.Context, k StampedeKind, _ time.Duration) {
	s.add([...]string{"lease acquired", "lease contended", "lease waited", "lease wait timed out",
		"early", "refreshed", "wait began", "shared"}[k])
}
func (s *subject) Loaded(context.Context, LoadEvent)                           { s.add("loaded") }
func (s *subject) Filled(context.Context, int)                                 { s.add("filled") }
func (s *subject) FillSkipped(context.Context, string)                         { s.add("skipped") }
func (s *subject) Corrupt(context.Context, string, error)                      { s.add("corrupt") }
func (s *subject) Index(ttl time.Duration) (string, time.Duration)             { return "index", ttl }
func (s *subject) Register(context.Context, bool) bool                         { return true }
func (s *subject) Revalidate(string, []driver.NamedValue)                      { s.add("revalidate") }
func (s *subject) Touch(string, time.Time, time.Duration, []driver.NamedValue) {}
func (s *subject) QueryAlone(ctx context.Context, q Query) (driver.Rows, error) {
	s.add("alone")
	return q(ctx)
}

// healthy is a store that never fails, as far as the read path can tell.
type healthy struct{ failed atomic.Int64 }

func (*healthy) Usable([]string) bool                         { return true }
func (*healthy) Allow() bool                                  { return true }
func (*healthy) StoreOK()                                     {}
func (h *healthy) StoreFailed(context.Context, string, error) { h.failed.Add(1) }

// scriptedStore passes every call to the in-process store, except Fetch calls that a script replaces.
type scriptedStore struct {
	*store.Memory
	mu      sync.Mutex
	fetches int
	// script is called with the number of each Fetch (from 1); ok false passes the call on.
	script func(n int) (err error, ok bool)
}

func (s *scriptedStore) Fetch(ctx context.Context, key string, tokenKeys []string, tokens []uint64) ([]byte, error) {
	s.mu.Lock()
	s.fetches++
	n := s.fetches
	s.mu.Unlock()
	if s.script != nil {
		if err, ok := s.script(n); ok {
			return nil, err
		}
	}
	return s.Memory.Fetch(ctx, key, tokenKeys, tokens)
}

func newCacheAside(st ReadStore) (*CacheAside, *healthy) {
	h := new(healthy)
	c := &CacheAside{Store: st, Health: h, Leases: lockstore.NewMemory(clock.System), Clock: clock.System,
		Rand: func() float64 { return 0.5 }, FillTimeout: time.Second, Log: slog.New(slog.DiscardHandler),
		LeaseKey: func(key string) string { return "lease:" + key }}
	return c, h
}

var testPolicy = Policy{TTL: time.Minute, LockWait: time.Second, MaxRows: 100, MaxBytes: 1 << 20}

func newRequest(s Subject) *Request {
	return &Request{Policy: &testPolicy, Subject: s, Key: "entry", TokenKeys: []string{"epoch", "t"},
		TTL: testPolicy.TTL, Delta: new(atomic.Int64), Start: time.Now()}
}

// readAll reads every value of rows.
func readAll(t *testing.T, rows driver.Rows) []int64 {
	t.Helper()
	var out []int64
	dest := make([]driver.Value, 1)
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, dest[0].(int64))
	}
	rows.Close()
	return out
}

func TestReadMissFillsThenHits(t *testing.T) {
	t.Parallel()
	st := store.NewMemory(store.MemoryOptions{})
	c, h := newCacheAside(st)
	s := new(subject)
	queries := 0
	q := func(context.Context) (driver.Rows, error) {
		queries++
		return &listRows{vals: []int64{7, 8}}, nil
	}
	ctx := context.Background()
	for i := range 3 {
		rows, err := c.Read(ctx, newRequest(s), q)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, rows); len(got) != 2 || got[0] != 7 || got[1] != 8 {
			t.Fatalf("read %d: %v, want [7 8]", i, got)
		}
	}
	if queries != 1 || s.count("miss") != 1 || s.count("filled") != 1 || s.count("hit") != 2 {
		t.Errorf("queries %d, events %v; want 1 query, 1 miss, 1 fill, 2 hits", queries, s.counts)
	}
	if h.failed.Load() != 0 {
		t.Errorf("%d store failures, want none", h.failed.Load())
	}
	// A write replaces a token: the entry records the old one, so the next read misses.
	if err := st.Bump(ctx, []string{"t"}); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Read(ctx, newRequest(s), q)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, rows)
	if queries != 2 || s.count("miss") != 2 {
		t.Errorf("after a write: queries %d, misses %d; want 2, 2", queries, s.count("miss"))
	}
}

// TestLeaseTakerLooksAgainAfterFailedRecheck: a read misses; before its flight re-checks the cache,
// another filler stores the entry and releases the lease; the re-check's round trip fails. Taking the
// free lease, the read must look again rather than query: a slow round trip is not a miss.
func TestLeaseTakerLooksAgainAfterFailedRecheck(t *testing.T) {
	t.Parallel()
	mem := store.NewMemory(store.MemoryOptions{})
	st := &scriptedStore{Memory: mem}
	c, _ := newCacheAside(st)
	ctx := context.Background()

	// The other filler's entry, made by a cache on the same store.
	other, _ := newCacheAside(mem)
	fill := func() {
		rows, err := other.Read(ctx, newRequest(new(subject)), func(context.Context) (driver.Rows, error) {
			return &listRows{vals: []int64{42}}, nil
		})
		if err != nil {
			t.Error(err)
			return
		}
		readAll(t, rows)
	}
	st.script = func(n int) (error, bool) {
		switch n {
		case 1: // the lookup: a miss, as the entry is not there yet
			return nil, false
		case 2: // the re-check inside the flight: the entry is stored meanwhile, but the reply is lost
			fill()
			return context.DeadlineExceeded, true
		}
		return nil, false
	}
	s := new(subject)
	queries := 0
	rows, err := c.Read(ctx, newRequest(s), func(context.Context) (driver.Rows, error) {
		queries++
		return &listRows{vals: []int64{1}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rows); len(got) != 1 || got[0] != 42 {
		t.Errorf("served %v, want the other filler's [42]", got)
	}
	if queries != 0 {
		t.Errorf("%d queries, want 0: the entry was there when the lease was taken", queries)
	}
}

// TestReadStoreFailureSharesOneQuery: concurrent identical reads whose lookups fail share one query.
func TestReadStoreFailureSharesOneQuery(t *testing.T) {
	t.Parallel()
	st := &scriptedStore{Memory: store.NewMemory(store.MemoryOptions{})}
	st.script = func(int) (error, bool) { return errors.New("store down"), true }
	c, _ := newCacheAside(st)
	s := new(subject)
	const n = 8
	var queries atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			req := newRequest(s)
			req.Start = start // every read began before the query
			rows, err := c.Read(context.Background(), req, func(context.Context) (driver.Rows, error) {
				queries.Add(1)
				<-release
				return &listRows{vals: []int64{5}}, nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			if got := readAll(t, rows); len(got) != 1 || got[0] != 5 {
				t.Errorf("served %v, want [5]", got)
			}
		})
	}
	for c.Flight.Waiting() < n-1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if queries.Load() != 1 {
		t.Errorf("%d queries for %d reads whose lookups failed, want 1", queries.Load(), n)
	}
	if s.count("bypass") != n {
		t.Errorf("%d store bypasses, want %d", s.count("bypass"), n)
	}
}
