package strategies

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/store"
)

// These tests drive the Refresher on a fake clock, with a Run that records the refreshes it is asked
// for. The root package's tests refresh through database/sql, on SQLite, PostgreSQL and Redis.

// refreshes records the subjects Run was called with, and can hold each run until released.
type refreshes struct {
	mu      sync.Mutex
	ran     []string
	hold    chan struct{} // nil: runs return at once
	started chan string
}

func (r *refreshes) run(ctx context.Context, s string) bool {
	r.mu.Lock()
	r.ran = append(r.ran, s)
	r.mu.Unlock()
	if r.started != nil {
		r.started <- s
	}
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (r *refreshes) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ran)
}

func newRefresher(t *testing.T, rec *refreshes) (*Refresher[string], *clock.Fake, *store.Memory) {
	fake := clock.NewFake(time.Unix(1_000_000, 0))
	st := store.NewMemory(store.MemoryOptions{Clock: fake})
	r := &Refresher[string]{Run: rec.run, Clock: fake, Store: st, Health: new(healthy)}
	r.Init()
	t.Cleanup(r.Close)
	return r, fake, st
}

// A key is refreshed once at a time, at most MaxRefreshes run at once, and nothing starts after Close.
func TestRefreshDedupsAndBounds(t *testing.T) {
	rec := &refreshes{hold: make(chan struct{}), started: make(chan string, 10)}
	r, _, _ := newRefresher(t, rec)
	r.Refresh("a", "a")
	<-rec.started
	r.Refresh("a", "a again") // running: dropped
	r.Refresh("b", "b")
	<-rec.started
	r.Refresh("c", "c") // MaxRefreshes (2) running: dropped
	if n := rec.count(); n != 2 {
		t.Fatalf("%d refreshes started; want 2 (a once, b; c over the bound)", n)
	}
	close(rec.hold)
	r.Close()
	r.Refresh("d", "d")
	if n := rec.count(); n != 2 {
		t.Errorf("a refresh started after Close: %v", rec.ran)
	}
}

// A hot entry of a refresh-ahead rule is refreshed once it is within its margin of expiry and has had
// HotHits hits since its last fill; an entry that expires without that is forgotten.
func TestRefreshAheadOfHotEntries(t *testing.T) {
	rec := &refreshes{started: make(chan string, 10)}
	r, fake, _ := newRefresher(t, rec)
	pol := &HotPolicy{Set: "hot", Queries: "hq", Query: "q1", TTL: 10 * time.Second, Ahead: true, HotHits: 2}
	now := fake.Now()
	r.Touch("hot entry", pol, func() string { return "hot entry" }, now.Add(10*time.Second), 0)
	r.Touch("hot entry", pol, func() string { t.Error("the subject of a tracked entry was made again"); return "" },
		now.Add(10*time.Second), 0)
	r.Touch("cold entry", pol, func() string { return "cold entry" }, now.Add(10*time.Second), 0)

	// Scans before the margin (a tenth of the TTL) refresh nothing.
	for fake.Now().Before(now.Add(8 * time.Second)) {
		scanOnce(t, fake)
	}
	if n := rec.count(); n != 0 {
		t.Fatalf("refreshed %v before the margin", rec.ran)
	}
	// Within the margin: the hot entry, not the one hit once.
	for fake.Now().Before(now.Add(9500 * time.Millisecond)) {
		scanOnce(t, fake)
	}
	scanOnce(t, fake) // the scan at 9.5 s has run once the scanner waits again
	select {
	case s := <-rec.started:
		if s != "hot entry" {
			t.Fatalf("refreshed %q; want the hot entry only", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hot entry was not refreshed within its margin")
	}
	// Past expiry both are forgotten.
	for fake.Now().Before(now.Add(10200 * time.Millisecond)) {
		scanOnce(t, fake)
	}
	scanOnce(t, fake)
	if _, ok := r.Hot("hot entry"); ok {
		t.Error("an expired entry is still tracked")
	}
	if _, ok := r.Hot("cold entry"); ok {
		t.Error("an expired entry is still tracked")
	}
	if n := rec.count(); n != 1 {
		t.Errorf("refreshes %v; want the hot entry once", rec.ran)
	}
}

// Every feedEvery scans the hits go to the shared hot sets: by entry, and by statement.
func TestFeedAddsHitsToTheHotSets(t *testing.T) {
	r, fake, st := newRefresher(t, new(refreshes))
	pol := &HotPolicy{Set: "hot", Queries: "hq", Query: "q1", TTL: time.Hour, HotHits: 1}
	exp := fake.Now().Add(time.Hour)
	for range 3 {
		r.Touch("e1", pol, func() string { return "e1" }, exp, 0)
	}
	r.Touch("e2", pol, func() string { return "e2" }, exp, 0)
	for range feedEvery + 1 {
		scanOnce(t, fake)
	}
	if top, err := st.TopHot(context.Background(), "hq", 5); err != nil || len(top) != 1 || top[0].Member != "q1" || top[0].Score != 4 {
		t.Errorf("hot statements %+v, %v; want q1 4", top, err)
	}
	top, err := st.TopHot(context.Background(), "hot", 5)
	if err != nil || len(top) != 2 || top[0].Member != "e1" || top[0].Score != 3 || top[1].Score != 1 {
		t.Errorf("hot set %+v, %v; want e1 3, e2 1", top, err)
	}
}

// scanOnce waits until the scanner waits on its timer (it has finished its last scan), then moves the
// clock by one scan interval.
func scanOnce(t *testing.T, fake *clock.Fake) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); fake.Pending() == 0; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatal("the scanner did not wait on its timer within 10 s")
		}
	}
	fake.Advance(scanInterval)
}
