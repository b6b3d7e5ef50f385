package cachedsql

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// health keeps the cache failing open: a circuit breaker over the read path's store calls, and the
// delivery of generation tokens that could not be replaced (deliver.go, DESIGN.md "Write path").
//
// The breaker only ever sends reads to the database. Writes never consult it: a write always tries to
// replace its tokens, whatever reads have seen (see apply).
type health struct {
	threshold int32
	cooldown  time.Duration

	// failures counts consecutive store failures and streak (Unix ns) is when the first of them
	// happened. openUntil (Unix ns, 0 = closed) is when an open breaker next lets one trial call
	// through; the caller that moves it one cooldown later is the trial. A trial that never reports
	// back (its caller gave up) so costs one more cooldown, never a breaker stuck open.
	failures  atomic.Int32
	streak    atomic.Int64
	openUntil atomic.Int64

	pending delivery
}

// breakerSpan is how long a run of consecutive failures must have lasted before it opens the breaker.
// A loaded host stalls every goroutine of a process at once for tens of milliseconds now and then (a
// Redis MGET measured 38 ms at the 99.9th percentile with the CPU saturated), which fails every call
// in flight together: that is a hiccup to absorb, not an outage. A store that is down keeps failing
// for longer than this, and each failed call is bounded by StoreTimeout meanwhile.
const breakerSpan = time.Second

func (h *health) init(o Options) {
	h.threshold = int32(o.BreakerThreshold)
	h.cooldown = o.BreakerCooldown
	h.pending.init(o.MaxPending)
}

// allow reports whether a read may call the store now. An open breaker lets one trial call through
// per cooldown.
func (h *health) allow(now time.Time) bool {
	if h.threshold < 0 {
		return true
	}
	until := h.openUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return h.openUntil.CompareAndSwap(until, now.Add(h.cooldown).UnixNano())
}

// ok records a store call that succeeded: it closes the breaker, and writes try the store again.
func (h *health) ok() {
	if h.pending.down.Load() {
		h.pending.down.Store(false)
	}
	if h.failures.Load() != 0 {
		h.failures.Store(0)
	}
	if h.openUntil.Load() != 0 {
		h.openUntil.Store(0)
	}
}

// fail records a store failure and reports whether it opened the breaker. refused says the store
// could not be connected to at all: that opens the breaker at once, since no stall explains it.
func (h *health) fail(now time.Time, refused bool) bool {
	if h.threshold < 0 {
		return false
	}
	n := h.failures.Add(1)
	if n == 1 {
		h.streak.Store(now.UnixNano())
	}
	if h.openUntil.Load() != 0 {
		return false // open already; the next trial is as scheduled
	}
	if !refused && (n < h.threshold || now.UnixNano()-h.streak.Load() < int64(breakerSpan)) {
		return false
	}
	return h.openUntil.CompareAndSwap(0, now.Add(h.cooldown).UnixNano())
}

// isOpen reports whether the breaker is open.
func (h *health) isOpen() bool { return h.openUntil.Load() != 0 }

// usable reports whether a read of keys may use the store: the breaker lets it, no replacement of one
// of its tokens (or of the epoch) is waiting for delivery, and no process sharing the database is out
// of reach (watch.go). It does no I/O.
func (e *engine) usable(keys []string) bool {
	return !e.watch.away.Load() && e.health.allow(e.now()) && !e.health.pending.holds(keys)
}

// storeFailed records a failure of a read-path store call: counters, breaker, logger, observer.
func (e *engine) storeFailed(ctx context.Context, op string, err error) {
	e.stats.storeErrors.Add(1)
	if e.health.fail(e.now(), refused(err)) {
		e.log.WarnContext(ctx, "cachedsql: store failing, circuit breaker open", "op", op, "err", err,
			"cooldown", e.health.cooldown)
	} else {
		e.log.DebugContext(ctx, "cachedsql: store call failed", "op", op, "err", err)
	}
	e.observeStoreError(ctx, op, err)
}

// refused reports whether err says the store refused the connection: nothing listens at its address.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && errors.Is(err, syscall.ECONNREFUSED)
}
