package cachedsql

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// Delivery of invalidations (DESIGN.md, "Write path").
//
// A write replaces its generation tokens before it returns (apply). When that replacement fails, the
// tokens wait here, and this process bypasses the cache for them, until a background deliverer has
// replaced them: it retries with a jittered exponential backoff, one pipeline per attempt, holding no
// lock across the round trip, and makes a last attempt when the cache is closed. Nothing is delivered
// on the read path: a read only checks, in memory, whether one of its tokens waits.
//
// While the store is known to be failing (the last attempt to reach it failed, and no call has succeeded
// since), writes do not try a round trip of their own: they queue their tokens at once, and the
// deliverer's retries, which begin 20 ms later, stand for them. So an outage costs the first write one
// InvalidateTimeout and the next ones nothing.

// Backoff of the deliverer between failed attempts.
const (
	deliverMinBackoff = 20 * time.Millisecond
	deliverMaxBackoff = time.Second
)

// deliverer is the background goroutine of a cache's delivery, started by the first failed
// replacement (most caches never need it) and stopped by Close.
type deliverer struct {
	// mu guards started and closed, so that no deliverer starts after Close.
	mu      sync.Mutex
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// queue keeps keys for the deliverer (epoch is replaced instead past MaxPending keys) and makes sure it
// runs. After Close, keys are kept (reads bypass them) but nothing delivers them.
func (e *engine) queue(keys []string) {
	e.pending.Add(keys, e.layout.Epoch())
	e.dl.mu.Lock()
	defer e.dl.mu.Unlock()
	if e.dl.started || e.dl.closed {
		return
	}
	e.dl.started = true
	e.dl.stop = make(chan struct{})
	e.dl.done = make(chan struct{})
	go e.deliverLoop()
}

// stopDeliverer makes a last delivery attempt, bounded by InvalidateTimeout, and stops the deliverer.
func (e *engine) stopDeliverer() {
	e.dl.mu.Lock()
	started := e.dl.started
	e.dl.closed = true
	e.dl.mu.Unlock()
	if !started {
		return
	}
	close(e.dl.stop)
	<-e.dl.done
}

func (e *engine) deliverLoop() {
	defer close(e.dl.done)
	d := &e.pending
	for {
		select {
		case <-d.Wake():
		case <-e.dl.stop:
			e.deliverOnce()
			return
		}
		backoff := deliverMinBackoff
		for d.Any() {
			if e.deliverOnce() {
				backoff = deliverMinBackoff
				continue
			}
			// Full jitter: processes cut off together do not come back in step.
			t, stop := e.clock.NewTimer(backoff/2 + rand.N(backoff/2+1))
			select {
			case <-t:
			case <-e.dl.stop:
				stop()
				e.deliverOnce()
				return
			}
			backoff = min(2*backoff, deliverMaxBackoff)
		}
	}
}

// deliverOnce tries to replace every pending token and reports whether nothing is left pending.
func (e *engine) deliverOnce() bool {
	d := &e.pending
	if !d.Any() {
		return true
	}
	b := d.Snapshot()
	if len(b.Keys) == 0 {
		d.Delivered(b)
		return true
	}
	ctx, cancel := e.invalidateCtx(context.Background())
	n, err := e.bumpPending(ctx, b.Keys)
	cancel()
	if err != nil {
		e.deliveryFailed(context.Background(), "deliver pending", err)
		return false
	}
	d.MarkUp()
	d.Delivered(b)
	e.stats.invalidations.Add(uint64(n))
	e.log.Info("cachedsql: pending invalidations delivered", "keys", n)
	return !d.Any()
}

// bumpPending replaces keys, whose markers for the row entries of a table (pendingRowsMarker) stand
// for the keyed tokens of every key set the table's registry lists: one round trip replaces the plain
// keys and reads those registries, a second replaces the keyed tokens found. It returns the number of
// tokens replaced.
func (e *engine) bumpPending(ctx context.Context, keys []string) (int, error) {
	var plain, tables, sets []string
	for _, k := range keys {
		if t, ok := strings.CutPrefix(k, pendingRowsMarker); ok {
			tables = append(tables, t)
			sets = append(sets, e.layout.Keysets(t))
		} else {
			plain = append(plain, k)
		}
	}
	res, err := e.st.BumpAndRead(ctx, plain, e.layout.Log(), e.logEntry("pending", nil, 0),
		store.BumpRead{Sets: sets, Counter: e.generationKey()})
	if err != nil {
		return 0, err
	}
	e.watch.seen(res.Counter)
	var more []string
	for i, t := range tables {
		if i < len(res.Members) {
			for _, m := range res.Members[i] {
				if cols, ok := keying.ParseKeysetName(m); ok {
					more = append(more, e.layout.KeyedToken(t, cols))
				}
			}
		}
		for _, ks := range e.keySets(t) {
			more = append(more, e.layout.KeyedToken(t, ks))
		}
	}
	more = dedupe(more)
	if len(more) > 0 {
		if err := e.st.Bump(ctx, more); err != nil {
			return 0, err
		}
	}
	return len(plain) + len(more), nil
}

// deliveryFailed records a failed replacement of tokens (by a write or by the deliverer). It does not
// feed the read path's breaker: reads learn of an outage through their own calls. It marks the store
// down, for the writer: until a call succeeds again, writes queue their tokens without paying a round
// trip each (the deliverer's retries stand for them).
func (e *engine) deliveryFailed(ctx context.Context, op string, err error) {
	e.stats.storeErrors.Add(1)
	if e.pending.MarkDown() {
		e.log.WarnContext(ctx, "cachedsql: store failing; invalidations queued for delivery", "op", op, "err", err)
	} else {
		e.log.DebugContext(ctx, "cachedsql: store call failed", "op", op, "err", err)
	}
	e.observeStoreError(ctx, op, err)
}
