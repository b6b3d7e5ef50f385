package strategies

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

// These tests call the watch's check directly, with stores whose replies force the case at hand. The
// root package's tests run the watch on real Redis servers, across processes, outages and restores.

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

// newWatch returns a watch of the database of v, through st, without its loop: tests call check.
func newWatch(v *Invalidation, st WatchStore) *Watch {
	w := &Watch{Inval: v, Log: v.Log}
	w.st, w.live, w.epoch, w.member = st, testLayout.Live(), testLayout.Epoch(), "me"
	v.Generation = testLayout.Generation()
	return w
}

// TestWatchGenerationRace: a write's increment (generation 5) seen while a watch call is on its way may
// have reached the store after the call read the counter (4). That is no loss of writes: before the fix
// the watch replaced the database's epoch for it (a spurious "store lost writes").
func TestWatchGenerationRace(t *testing.T) {
	v, st, _ := newInvalidation(t)
	log := func() []store.LogEntry {
		entries, err := st.RecentLog(context.Background(), testLayout.Log(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}
	w := newWatch(v, nil)
	w.gen.Store(4)
	w.st = raceWatcher{during: func() { w.Seen(5) }, counter: 4}
	w.check(store.WatchCheck)
	if entries := log(); len(entries) != 0 {
		t.Errorf("the epoch was replaced for a write seen during the watch call: %+v", entries)
	}
	// A generation below one seen before the call is a loss.
	w.st = raceWatcher{during: func() {}, counter: 3}
	w.check(store.WatchCheck)
	if entries := log(); len(entries) != 1 || entries[0].Cause != CauseLostWrites {
		t.Errorf("a lower generation than seen before the call did not replace the epoch, logged as %q: %+v", CauseLostWrites, entries)
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
	*switchStore
	away func() bool
	seen []bool
}

func (s *awayAtBump) BumpAndRead(ctx context.Context, keys []string, logKey string, entry store.LogEntry, read store.BumpRead) (store.BumpResult, error) {
	s.seen = append(s.seen, s.away())
	return s.switchStore.BumpAndRead(ctx, keys, logKey, entry, read)
}

// TestGoneReplacedBeforeBack: a process presumed gone is forgotten, and reads stop bypassing the cache,
// only after the epoch has been replaced for it. Before the fix the watch cleared away first, so a read
// in between could serve what the gone process had changed.
func TestGoneReplacedBeforeBack(t *testing.T) {
	v, sw, _ := newInvalidation(t)
	st := &awayAtBump{switchStore: sw}
	v.Store = st
	gone := &goneWatcher{}
	w := newWatch(v, gone)
	st.away = w.Away
	w.check(store.WatchCheck)
	if !slices.Equal(st.seen, []bool{true}) {
		t.Fatalf("epoch replacements with away = %v; want one, made while reads bypass", st.seen)
	}
	if !gone.forgotten.Load() {
		t.Fatal("the gone process was not forgotten after the epoch was replaced")
	}
	if !w.Away() {
		t.Error("reads stopped bypassing in the same watch call that found the process gone")
	}
	w.check(store.WatchCheck)
	if w.Away() {
		t.Error("reads still bypass once the gone process is forgotten")
	}
}

// A gone process whose epoch replacement could not be delivered is not forgotten: the others must go
// on bypassing until the replacement is delivered.
func TestGoneKeptWhileEpochPending(t *testing.T) {
	v, st, _ := newInvalidation(t)
	gone := &goneWatcher{}
	w := newWatch(v, gone)
	st.down.Store(true)
	w.check(store.WatchCheck)
	if gone.forgotten.Load() {
		t.Fatal("a gone process was forgotten while the epoch's replacement was pending")
	}
	if !w.Away() || !v.Pending.Holds([]string{testLayout.Epoch()}) {
		t.Errorf("away %v, epoch pending %v; want both", w.Away(), v.Pending.Holds([]string{testLayout.Epoch()}))
	}
}
