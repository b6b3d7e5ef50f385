package cachedsql

import (
	"context"

	"github.com/cachedsql/cachedsql/internal/health"
)

// The read path's circuit breaker and the pending invalidations are internal/health's (e.breaker,
// e.pending); the engine calls the store and reports to them here. The breaker only ever sends reads to
// the database. Writes never consult it: a write always tries to replace its tokens, whatever reads
// have seen (see apply).

// StoreOK records a store call that succeeded: it closes the breaker, and writes try the store again.
func (e *engine) StoreOK() {
	e.pending.MarkUp()
	e.breaker.OK()
}

// Usable reports whether a read of keys may use the store: the breaker lets it, no replacement of one
// of its tokens (or of the epoch) is waiting for delivery, and no process sharing the database is out
// of reach (strategies.Watch). It does no I/O.
func (e *engine) Usable(keys []string) bool {
	return !e.watch.Away() && e.breaker.Allow(e.now()) && !e.pending.Holds(keys)
}

// StoreFailed records a failure of a read-path store call: counters, breaker, logger, observer.
func (e *engine) StoreFailed(ctx context.Context, op string, err error) {
	e.stats.storeErrors.Add(1)
	if e.breaker.Fail(e.now(), health.Refused(err)) {
		e.log.WarnContext(ctx, "cachedsql: store failing, circuit breaker open", "op", op, "err", err,
			"cooldown", e.breaker.Cooldown())
	} else {
		e.log.DebugContext(ctx, "cachedsql: store call failed", "op", op, "err", err)
	}
	e.observeStoreError(ctx, op, err)
}

// Allow reports whether the breaker lets a read's store call through now.
func (e *engine) Allow() bool { return e.breaker.Allow(e.now()) }
