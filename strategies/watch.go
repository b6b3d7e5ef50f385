package strategies

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// The watch (DESIGN.md, "Fails open"): the processes sharing a database through Redis watch each other
// and the store, so that two failures a token cannot describe are bounded in time.
//
//   - A writer out of reach. A write whose tokens could not be replaced is known only to its writer,
//     which delivers it later (Invalidation's deliverer). So that the others do not serve what it
//     changed meanwhile, every process that has written through the wrapper beats every watchEvery
//     into a sorted set of the database, timed by the Redis server's clock, and does not beat while it
//     holds undelivered invalidations (processes that only read look, without beating). A process that
//     sees a member that has not beaten for watchLapse bypasses the cache for that database until the
//     member beats again (its invalidations delivered) or has been silent for watchGone: it is then
//     presumed gone, removed, and the database's epoch replaced, so that nothing it may have written
//     is served.
//   - A store that lost writes. Every write increments the database's write generation in the round
//     trip that replaces its tokens; each process remembers the highest value it has seen (its own
//     writes included). A lower value means the store went back in time (restored from a snapshot,
//     failed over to a replica that had not received the latest writes): the tokens it holds may be
//     older than entries' data, so the process replaces the database's epoch.
//
// The in-process store needs neither: it lives and dies with its one process.
const (
	watchEvery = 250 * time.Millisecond
	watchLapse = 1500 * time.Millisecond
	watchGone  = 10 * time.Second
)

// The causes of the epoch replacements the watch makes, as the invalidation log names them.
const (
	CauseProcessGone = "cachedsql.watch: a silent process presumed gone"
	CauseLostWrites  = "cachedsql.watch: the store lost writes"
)

// WatchStore is what the watch needs of a shared store (internal/store's Redis).
type WatchStore interface {
	Watch(ctx context.Context, liveKey, member string, mode int, lapse, gone time.Duration, counterKey string) (store.WatchResult, error)
	Forget(ctx context.Context, liveKey string, gone time.Duration, members []string) error
}

// Watch is this process's part in the watch of one database. Set Inval and Log, then Start it once the
// database is known (a cache on an in-process store never does); it is then safe for concurrent use.
// Stop ends it.
type Watch struct {
	// Inval is the invalidation of the database watched: the watch replaces its epoch, counts its
	// write generation, and looks at what it holds pending.
	Inval *Invalidation
	Log   *slog.Logger

	st     WatchStore // nil: not watching
	live   string     // the key of the database's set of live processes
	epoch  string
	member string

	// away: a process sharing the database has been silent for the lapse bound; reads bypass the cache.
	away atomic.Bool
	// wrote: this process has written; it beats from now on.
	wrote atomic.Bool
	// gen is the highest write generation seen.
	gen atomic.Uint64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start starts watching the database l names, through st, and makes every token replacement of
// Inval count in its write generation.
func (w *Watch) Start(st WatchStore, l keying.Layout) {
	w.st, w.live, w.epoch, w.member = st, l.Live(), l.Epoch(), rand.Text()
	w.Inval.Generation = l.Generation()
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go w.loop()
}

// Stop stops the watch. The process leaves the set unless it still holds undelivered invalidations:
// then the others go on seeing it silent, and presume it gone in time.
func (w *Watch) Stop() {
	if w.st == nil {
		return
	}
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// Away reports whether a process sharing the database is out of reach: reads must bypass the cache.
func (w *Watch) Away() bool { return w.away.Load() }

// Wrote records that this process writes: from now on it beats.
func (w *Watch) Wrote() { w.wrote.Store(true) }

func (w *Watch) loop() {
	defer close(w.done)
	t := time.NewTicker(watchEvery) // real time, not the cache's clock: the Redis server's clock times the lapses
	defer t.Stop()
	for {
		w.check(store.WatchBeat)
		select {
		case <-t.C:
		case <-w.stop:
			if !w.Inval.Pending.Any() {
				w.check(store.WatchLeave)
			}
			return
		}
	}
}

// check beats (or leaves, by mode), and acts on what it learns.
func (w *Watch) check(mode int) {
	if mode == store.WatchBeat && (!w.wrote.Load() || w.Inval.Pending.Any()) {
		mode = store.WatchCheck // a reader, or silent while it holds undelivered invalidations
	}
	// Only generations seen before the call went out bound what it reads: a write's increment seen while
	// the call is on its way may have reached the store after the call read the counter.
	before := w.gen.Load()
	ctx, cancel := w.Inval.Bound(context.Background())
	res, err := w.st.Watch(ctx, w.live, w.member, mode, watchLapse, watchGone, w.Inval.Generation)
	cancel()
	if err != nil {
		w.Log.Debug("cachedsql: watch failed", "err", err)
		return
	}
	if len(res.Gone) > 0 {
		// Presumed gone: replace the epoch, then forget them. Until they are forgotten they count as
		// lapsed, in this process and every other, so no reader stops bypassing the cache before the
		// epoch has been replaced (clearing away first let a read serve the old row in between).
		w.away.Store(true)
		w.Log.Warn("cachedsql: a silent process is presumed gone; replacing the database's epoch", "processes", len(res.Gone))
		w.Inval.Apply(context.Background(), w.Inval.Everything(), CauseProcessGone, nil)
		if !w.Inval.Pending.Holds([]string{w.epoch}) {
			ctx, cancel := w.Inval.Bound(context.Background())
			if err := w.st.Forget(ctx, w.live, watchGone, res.Gone); err != nil {
				w.Log.Debug("cachedsql: watch failed", "err", err)
			}
			cancel()
		}
	}
	if away := res.Lapsed > 0; w.away.Swap(away) != away {
		if away {
			w.Log.Warn("cachedsql: a process sharing the database is out of reach; reads bypass the cache", "processes", res.Lapsed)
		} else {
			w.Log.Info("cachedsql: every process sharing the database is back; reads use the cache")
		}
	}
	if res.Counter < before {
		w.Log.Warn("cachedsql: the store lost writes (flushed, restored or failed over); replacing the database's epoch",
			"generation", res.Counter, "seen", before)
		w.gen.Store(res.Counter)
		w.Inval.Apply(context.Background(), w.Inval.Everything(), CauseLostWrites, nil)
		return
	}
	w.Seen(res.Counter)
}

// Seen raises the highest write generation seen to n.
func (w *Watch) Seen(n uint64) {
	for {
		cur := w.gen.Load()
		if n <= cur || w.gen.CompareAndSwap(cur, n) {
			return
		}
	}
}
