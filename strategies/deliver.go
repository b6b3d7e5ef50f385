package strategies

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
// A write replaces its generation tokens before it returns (Invalidation.Apply). When that replacement
// fails, the tokens wait in Pending, and this process bypasses the cache for them, until the deliverer
// has replaced them: it retries with a jittered exponential backoff, one pipeline per attempt, holding
// no lock across the round trip, and makes a last attempt on Close. Nothing is delivered on the read
// path: a read only checks, in memory, whether one of its tokens waits.
//
// While the store is known to be failing (the last attempt to reach it failed, and no call has succeeded
// since), writes do not try a round trip of their own: they queue their tokens at once, and the
// deliverer's retries, which begin 20 ms later, stand for them. So an outage costs the first write one
// Timeout and the next ones nothing.

// CauseDelivered is the cause of the invalidation log's entry for a delivery of pending invalidations.
const CauseDelivered = "cachedsql.deliver"

// Backoff of the deliverer between failed attempts.
const (
	deliverMinBackoff = 20 * time.Millisecond
	deliverMaxBackoff = time.Second
)

// deliverer is the background goroutine of an Invalidation's delivery, started by the first failed
// replacement (most caches never need it) and stopped by Close.
type deliverer struct {
	// mu guards started and closed, so that no deliverer starts after Close.
	mu      sync.Mutex
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// queue keeps keys for the deliverer (the epoch is replaced instead past the bound of Pending) and makes
// sure it runs. After Close, keys are kept (reads bypass them) but nothing delivers them.
func (v *Invalidation) queue(keys []string) {
	v.Pending.Add(keys, v.layout.Epoch())
	v.dl.mu.Lock()
	defer v.dl.mu.Unlock()
	if v.dl.started || v.dl.closed {
		return
	}
	v.dl.started = true
	v.dl.stop = make(chan struct{})
	v.dl.done = make(chan struct{})
	go v.deliverLoop()
}

// Close makes a last delivery attempt, bounded by Timeout, and stops the deliverer. Calls after the
// first wait for it to end.
func (v *Invalidation) Close() {
	v.dl.mu.Lock()
	started, first := v.dl.started, !v.dl.closed
	v.dl.closed = true
	v.dl.mu.Unlock()
	if !started {
		return
	}
	if first {
		close(v.dl.stop)
	}
	<-v.dl.done
}

func (v *Invalidation) deliverLoop() {
	defer close(v.dl.done)
	d := v.Pending
	for {
		select {
		case <-d.Wake():
		case <-v.dl.stop:
			v.deliverOnce()
			return
		}
		backoff := deliverMinBackoff
		for d.Any() {
			if v.deliverOnce() {
				backoff = deliverMinBackoff
				continue
			}
			// Full jitter: processes cut off together do not come back in step.
			t, stop := v.Timer.NewTimer(backoff/2 + rand.N(backoff/2+1))
			select {
			case <-t:
			case <-v.dl.stop:
				stop()
				v.deliverOnce()
				return
			}
			backoff = min(2*backoff, deliverMaxBackoff)
		}
	}
}

// deliverOnce tries to replace every pending token and reports whether nothing is left pending.
func (v *Invalidation) deliverOnce() bool {
	d := v.Pending
	if !d.Any() {
		return true
	}
	b := d.Snapshot()
	if len(b.Keys) == 0 {
		d.Delivered(b)
		return true
	}
	ctx, cancel := v.Bound(context.Background())
	n, err := v.bumpPending(ctx, b.Keys)
	cancel()
	if err != nil {
		v.failed(context.Background(), "deliver pending", err)
		return false
	}
	d.MarkUp()
	d.Delivered(b)
	v.Events.Replaced(n)
	v.Log.Info("cachedsql: pending invalidations delivered", "keys", n)
	return !d.Any()
}

// bumpPending replaces keys, whose markers for the row entries of a table (pendingRowsMarker) stand
// for the keyed tokens of every key set the table's registry lists: one round trip replaces the plain
// keys and reads those registries, a second replaces the keyed tokens found. It returns the number of
// tokens replaced.
func (v *Invalidation) bumpPending(ctx context.Context, keys []string) (int, error) {
	var plain, tables, sets []string
	for _, k := range keys {
		if t, ok := strings.CutPrefix(k, pendingRowsMarker); ok {
			tables = append(tables, t)
			sets = append(sets, v.layout.Keysets(t))
		} else {
			plain = append(plain, k)
		}
	}
	res, err := v.Store.BumpAndRead(ctx, plain, v.layout.Log(), v.Events.LogEntry(CauseDelivered, nil, 0),
		store.BumpRead{Sets: sets, Counter: v.Generation})
	if err != nil {
		return 0, err
	}
	v.Events.Generation(res.Counter)
	var more []string
	for i, t := range tables {
		if i < len(res.Members) {
			for _, m := range res.Members[i] {
				if cols, ok := keying.ParseKeysetName(m); ok {
					more = append(more, v.layout.KeyedToken(t, cols))
				}
			}
		}
		for _, ks := range v.KeySets.Of(t) {
			more = append(more, v.layout.KeyedToken(t, ks))
		}
	}
	more = dedupe(more)
	if len(more) > 0 {
		if err := v.Store.Bump(ctx, more); err != nil {
			return 0, err
		}
	}
	return len(plain) + len(more), nil
}

// failed records a failed replacement of tokens (by a write or by the deliverer). It does not feed the
// read path's breaker: reads learn of an outage through their own calls. It marks the store down, for
// the writer: until a call succeeds again, writes queue their tokens without paying a round trip each
// (the deliverer's retries stand for them).
func (v *Invalidation) failed(ctx context.Context, op string, err error) {
	if v.Pending.MarkDown() {
		v.Log.WarnContext(ctx, "cachedsql: store failing; invalidations queued for delivery", "op", op, "err", err)
	} else {
		v.Log.DebugContext(ctx, "cachedsql: store call failed", "op", op, "err", err)
	}
	v.Events.DeliveryFailed(ctx, op, err)
}
