package cachedsql

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

// raceWatcher is a store's watch whose reply carries a generation read before a write that the process
// learns of while the call is on its way.
type raceWatcher struct {
	during  func()
	counter uint64
}

func (w raceWatcher) Watch(context.Context, string, string, int, time.Duration, time.Duration, string) (store.WatchResult, error) {
	w.during()
	return store.WatchResult{Counter: w.counter}, nil
}

func (raceWatcher) Forget(context.Context, string, time.Duration, []string) error { return nil }

// TestWatchGenerationRace: a write's increment (generation 5) seen while a watch call is on its way may
// have reached the store after the call read the counter (4). That is no loss of writes: before the fix
// the watch replaced the database's epoch for it (a spurious "store lost writes").
func TestWatchGenerationRace(t *testing.T) {
	t.Parallel()
	mem := store.NewMemory(store.MemoryOptions{})
	e, err := newEngine(Options{testStore: mem}, "sqlite3", "file:race?mode=memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.setLayouts("db", "session")
	e.watch.gen.Store(4)
	e.watch.w = raceWatcher{during: func() { e.watch.seen(5) }, counter: 4}
	e.watchOnce(store.WatchCheck)
	if log, _ := mem.RecentLog(context.Background(), e.layout.Log(), 10); len(log) != 0 {
		t.Errorf("the epoch was replaced for a write seen during the watch call: %+v", log)
	}
	// A generation below one seen before the call is a loss.
	e.watch.w = raceWatcher{during: func() {}, counter: 3}
	e.watchOnce(store.WatchCheck)
	if log, _ := mem.RecentLog(context.Background(), e.layout.Log(), 10); len(log) != 1 || log[0].Cause != causeLostWrites || log[0].Text != "" {
		t.Errorf("a lower generation than seen before the call did not replace the epoch, logged as %q: %+v", causeLostWrites, log)
	}
}

// goneWatcher reports one member presumed gone (and so lapsed) until it is forgotten.
type goneWatcher struct {
	forgotten atomic.Bool
}

func (w *goneWatcher) Watch(context.Context, string, string, int, time.Duration, time.Duration, string) (store.WatchResult, error) {
	if w.forgotten.Load() {
		return store.WatchResult{}, nil
	}
	return store.WatchResult{Gone: []string{"p"}, Lapsed: 1}, nil
}

func (w *goneWatcher) Forget(context.Context, string, time.Duration, []string) error {
	w.forgotten.Store(true)
	return nil
}

// awayAtBump is a store that records whether reads were bypassing the cache (away) when a token
// replacement reached it.
type awayAtBump struct {
	*store.Memory
	away func() bool
	seen []bool
}

func (s *awayAtBump) BumpAndRead(ctx context.Context, keys []string, logKey string, entry store.LogEntry, read store.BumpRead) (store.BumpResult, error) {
	s.seen = append(s.seen, s.away())
	return s.Memory.BumpAndRead(ctx, keys, logKey, entry, read)
}

// TestGoneReplacedBeforeBack: a process presumed gone is forgotten, and reads stop bypassing the cache,
// only after the epoch has been replaced for it. Before the fix the watch cleared away first, so a read
// in between could serve what the gone process had changed.
func TestGoneReplacedBeforeBack(t *testing.T) {
	t.Parallel()
	st := &awayAtBump{Memory: store.NewMemory(store.MemoryOptions{})}
	e, err := newEngine(Options{testStore: st}, "sqlite3", "file:gone?mode=memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.setLayouts("db", "session")
	st.away = e.watch.away.Load
	w := &goneWatcher{}
	e.watch.w = w
	e.watchOnce(store.WatchCheck)
	if !slices.Equal(st.seen, []bool{true}) {
		t.Fatalf("epoch replacements with away = %v; want one, made while reads bypass", st.seen)
	}
	if !w.forgotten.Load() {
		t.Fatal("the gone process was not forgotten after the epoch was replaced")
	}
	if !e.watch.away.Load() {
		t.Error("reads stopped bypassing in the same watch call that found the process gone")
	}
	e.watchOnce(store.WatchCheck)
	if e.watch.away.Load() {
		t.Error("reads still bypass once the gone process is forgotten")
	}
}
