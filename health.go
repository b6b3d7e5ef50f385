package cachedsql

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/keying"
)

// health keeps the cache failing open: a circuit breaker over store calls, and the generation tokens
// that could not be replaced while the store was unreachable (DESIGN.md, "Write path").
type health struct {
	threshold  int32
	cooldown   time.Duration
	maxPending int

	// failures counts consecutive store failures; openUntil (Unix ns, 0 = closed) is when an open
	// breaker lets one trial call through; trial is taken by that call.
	failures  atomic.Int32
	openUntil atomic.Int64
	trial     atomic.Bool

	// hasPending mirrors len(mu.pending) > 0 || mu.overflow, so that the hot path takes no lock.
	hasPending atomic.Bool

	mu struct {
		sync.Mutex
		// pending are token keys whose replacement has not reached the store yet.
		pending map[string]struct{}
		// overflow: more than maxPending keys were pending; the epoch replaces them all.
		overflow bool
		// epoch is the epoch key to bump on overflow.
		epoch string
	}
}

func (h *health) init(o Options) {
	h.threshold = int32(o.BreakerThreshold)
	h.cooldown = o.BreakerCooldown
	h.maxPending = o.MaxPending
	h.mu.pending = make(map[string]struct{})
}

// allow reports whether the store may be called now. An open breaker lets one trial call through once
// its cooldown has passed.
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
	return h.trial.CompareAndSwap(false, true)
}

func (h *health) ok() {
	h.failures.Store(0)
	if h.openUntil.Load() != 0 {
		h.openUntil.Store(0)
		h.trial.Store(false)
	}
}

// fail records a store failure and reports whether it opened the breaker.
func (h *health) fail(now time.Time) bool {
	if h.threshold < 0 {
		return false
	}
	n := h.failures.Add(1)
	if n < h.threshold && h.openUntil.Load() == 0 {
		return false
	}
	h.openUntil.Store(now.Add(h.cooldown).UnixNano())
	h.trial.Store(false)
	return n == h.threshold || n > h.threshold && n%h.threshold == 0
}

// usable reports whether a read of keys may use the store: the breaker lets it, and no replacement of
// one of its tokens (or of the epoch) is still pending. It first tries to deliver pending tokens.
func (h *health) usable(ctx context.Context, e *engine, keys []string) bool {
	if !h.allow(e.now()) {
		return false
	}
	if !h.hasPending.Load() {
		return true
	}
	h.flushPending(ctx, e)
	if !h.hasPending.Load() {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.overflow {
		return false
	}
	for _, k := range keys {
		if _, ok := h.mu.pending[k]; ok {
			return false
		}
	}
	return true
}

// addPending keeps keys to replace once the store is back.
func (h *health) addPending(keys []string, epoch string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		h.mu.pending[k] = struct{}{}
	}
	if len(h.mu.pending) > h.maxPending {
		clear(h.mu.pending)
		h.mu.overflow = true
		h.mu.epoch = epoch
	}
	h.hasPending.Store(true)
}

func (h *health) pendingCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.overflow {
		return h.maxPending + 1
	}
	return len(h.mu.pending)
}

// flushPending tries to replace the pending tokens in one round trip. Only one caller flushes at a
// time; the others carry on as if it had failed (they bypass what is pending).
func (h *health) flushPending(ctx context.Context, e *engine) {
	if !h.mu.TryLock() {
		return
	}
	defer h.mu.Unlock()
	var keys []string
	if h.mu.overflow {
		keys = []string{h.mu.epoch}
	} else {
		keys = make([]string, 0, len(h.mu.pending))
		for k := range h.mu.pending {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		h.hasPending.Store(false)
		return
	}
	keys, err := e.expandPending(ctx, keys)
	if err == nil {
		sctx, cancel := e.invalidateCtx(ctx)
		err = e.st.Bump(sctx, keys)
		cancel()
	}
	if err != nil {
		e.storeFailed(ctx, "bump pending", err)
		return
	}
	h.ok()
	e.stats.invalidations.Add(uint64(len(keys)))
	clear(h.mu.pending)
	h.mu.overflow = false
	h.hasPending.Store(false)
	e.log.InfoContext(ctx, "cachedsql: pending invalidations delivered", "keys", len(keys))
}

// storeFailed records a store failure: counters, breaker, logger, observer.
func (e *engine) storeFailed(ctx context.Context, op string, err error) {
	e.stats.storeErrors.Add(1)
	if e.health.fail(e.now()) {
		e.log.WarnContext(ctx, "cachedsql: store failing, circuit breaker open", "op", op, "err", err,
			"cooldown", e.health.cooldown)
	} else {
		e.log.DebugContext(ctx, "cachedsql: store call failed", "op", op, "err", err)
	}
	e.observeStoreError(ctx, op, err)
}

// Invalidate replaces the generation tokens of tables in the cache behind db, as a write to them
// through the wrapper would: every cached read of any of them, in every process sharing the store,
// misses from now on. With no tables it replaces the database's epoch, invalidating all its entries.
// Use it after writes made outside the wrapper. It fails if db was not opened by this package, or if it
// must open db's first connection (to learn the database's identity) and cannot; a store failure is
// not returned: the tokens are kept pending, as after a write (see the package doc).
func Invalidate(ctx context.Context, db *sql.DB, tables ...string) error {
	d, ok := db.Driver().(*connectorDriver)
	if !ok {
		return errNotCaching
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = keying.TableName(t)
	}
	if err := d.eng.resolveIdentity(ctx, db); err != nil {
		return err
	}
	d.eng.invalidateTables(ctx, names, "")
	return nil
}
