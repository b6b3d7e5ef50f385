package cachedsql

import (
	"context"
	"crypto/rand"
	"time"

	"sync"
	"sync/atomic"

	"github.com/cachedsql/cachedsql/internal/store"
)

// The watch (DESIGN.md, "Fails open"): the processes sharing a database through Redis watch each other
// and the store, so that two failures a token cannot describe are bounded in time.
//
//   - A writer out of reach. A write whose tokens could not be replaced is known only to its writer,
//     which delivers it later (strategies.Invalidation). So that the others do not serve what it changed meanwhile,
//     every process that has written through the wrapper beats every watchEvery into a sorted set of
//     the database, timed by the Redis server's clock, and does not beat while it holds undelivered
//     invalidations (processes that only read look, without beating). A process that sees
//     a member that has not beaten for watchLapse bypasses the cache for that database until the member
//     beats again (its invalidations delivered) or has been silent for watchGone: it is then presumed
//     gone, removed, and the database's epoch replaced, so that nothing it may have written is served.
//   - A store that lost writes. Every write increments the database's write generation in the round
//     trip that replaces its tokens; each process remembers the highest value it has seen (its own
//     writes included). A lower value means the store went back in time (restored from a snapshot,
//     failed over to a replica that had not received the latest writes): the tokens it holds may be
//     older than entries' data, so the process replaces the database's epoch.
//
// The memory store needs neither: it lives and dies with its one process.
const (
	watchEvery = 250 * time.Millisecond
	watchLapse = 1500 * time.Millisecond
	watchGone  = 10 * time.Second
)

// watcher is what the watch needs from the store.
type watcher interface {
	Watch(ctx context.Context, liveKey, member string, mode int, lapse, gone time.Duration, counterKey string) (store.WatchResult, error)
	Forget(ctx context.Context, liveKey string, gone time.Duration, members []string) error
}

// watchState is the watch of one cache.
type watchState struct {
	w      watcher // nil: not watching
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

// startWatch starts the watch of e's database when its store is shared.
func (e *engine) startWatch() {
	w, ok := e.st.(watcher)
	if !ok || e.local {
		return
	}
	ws := &e.watch
	ws.w, ws.member = w, rand.Text()
	e.inval.Generation = e.layout.Generation()
	ws.stop, ws.done = make(chan struct{}), make(chan struct{})
	go e.watchLoop()
}

// stopWatch stops the watch. The process leaves the set unless it still holds undelivered
// invalidations: then the others go on seeing it silent, and presume it gone in time.
func (e *engine) stopWatch() {
	ws := &e.watch
	if ws.w == nil {
		return
	}
	ws.once.Do(func() { close(ws.stop) })
	<-ws.done
}

func (e *engine) watchLoop() {
	ws := &e.watch
	defer close(ws.done)
	t := time.NewTicker(watchEvery) // real time, not e.clock: the Redis server's clock times the lapses

	defer t.Stop()
	for {
		e.watchOnce(store.WatchBeat)
		select {
		case <-t.C:
		case <-ws.stop:
			if !e.pending.Any() {
				e.watchOnce(store.WatchLeave)
			}
			return
		}
	}
}

// watchOnce beats (or leaves, by mode), and acts on what it learns.
func (e *engine) watchOnce(mode int) {
	ws := &e.watch
	if mode == store.WatchBeat && (!ws.wrote.Load() || e.pending.Any()) {
		mode = store.WatchCheck // a reader, or silent while it holds undelivered invalidations
	}
	// Only generations seen before the call went out bound what it reads: a write's increment seen while
	// the call is on its way may have reached the store after the call read the counter.
	before := ws.gen.Load()
	ctx, cancel := e.inval.Bound(context.Background())
	res, err := ws.w.Watch(ctx, e.layout.Live(), ws.member, mode, watchLapse, watchGone, e.layout.Generation())
	cancel()
	if err != nil {
		e.log.Debug("cachedsql: watch failed", "err", err)
		return
	}
	if len(res.Gone) > 0 {
		// Presumed gone: replace the epoch, then forget them. Until they are forgotten they count as
		// lapsed, in this process and every other, so no reader stops bypassing the cache before the
		// epoch has been replaced (clearing away first let a read serve the old row in between).
		ws.away.Store(true)
		e.log.Warn("cachedsql: a silent process is presumed gone; replacing the database's epoch", "processes", len(res.Gone))
		e.invalidateTables(context.Background(), nil, causeProcessGone)
		if !e.pending.Holds([]string{e.layout.Epoch()}) {
			ctx, cancel := e.inval.Bound(context.Background())
			if err := ws.w.Forget(ctx, e.layout.Live(), watchGone, res.Gone); err != nil {
				e.log.Debug("cachedsql: watch failed", "err", err)
			}
			cancel()
		}
	}
	if away := res.Lapsed > 0; ws.away.Swap(away) != away {
		if away {
			e.log.Warn("cachedsql: a process sharing the database is out of reach; reads bypass the cache", "processes", res.Lapsed)
		} else {
			e.log.Info("cachedsql: every process sharing the database is back; reads use the cache")
		}
	}
	if res.Counter < before {
		e.log.Warn("cachedsql: the store lost writes (flushed, restored or failed over); replacing the database's epoch",
			"generation", res.Counter, "seen", before)
		ws.gen.Store(res.Counter)
		e.invalidateTables(context.Background(), nil, causeLostWrites)
		return
	}
	ws.seen(res.Counter)
}

// seen raises the highest write generation seen to n.
func (ws *watchState) seen(n uint64) {
	for {
		cur := ws.gen.Load()
		if n <= cur || ws.gen.CompareAndSwap(cur, n) {
			return
		}
	}
}
