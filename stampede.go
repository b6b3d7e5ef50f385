package cachedsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/cachedsql/cachedsql/internal/codec"
	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/lockstore"
	"github.com/cachedsql/cachedsql/strategies"
)

// A miss goes through three layers of stampede control (DESIGN.md, issue "Stampede prevention"):
//
//  1. In-process single flight (lockstore.Group): concurrent misses of one entry in one process share
//     one load. The first caller runs it on its own connection; the others wait on their own context.
//  2. Inside the flight, the cache is checked again, then a store lease elects one filler among
//     processes. A process that does not get the lease polls for the other's fill for the rule's
//     LockWait, then serves a stale copy where the rule allows, or queries the database itself.
//  3. Hits recompute early with probability rising towards expiry (XFetch), stale copies are served
//     while one request revalidates, and hot entries are refreshed ahead of expiry (refresh.go).
//
// None of this is needed for correctness: every fill records the generation tokens read before its
// query, so a fill by a second filler, or after a lease expired, is wasted work, never a stale read.

// errNotShared is the result of a shared load whose rows could not be shared (too many, too large,
// or not encodable): every caller but the one that ran it queries the database itself.
var errNotShared = errors.New("cachedsql: result not shareable")

// loaded is what one shared load gives its callers.
type loaded struct {
	// b is the encoded entry, which each waiting caller decodes into rows of its own.
	b []byte
	// ent is the decoded entry, for the caller that ran the load.
	ent *codec.Entry
	// rows serves the caller that ran the load when the result is not shared: the rows read so far,
	// then the parent's remaining rows.
	rows driver.Rows
	// stale: ent is a copy past its TTL, served under the rule's stale windows for staleWhy.
	stale    bool
	staleWhy staleReason
	// stored: the load stored its result.
	stored bool
}

// found is what a lookup learnt about an entry whose generation tokens are current.
type found struct {
	ent *codec.Entry
	// b is the entry as stored; nil for a row entry (stored as a hash).
	b []byte
}

// encoded returns the entry's encoding, which a shared load hands to the callers that waited for it.
func (f *found) encoded() []byte {
	if f.b == nil {
		// A row entry: encoded from its fields (they decoded, so they encode).
		f.b, _ = codec.Encode(nil, f.ent)
	}
	return f.b
}

// ageOf classifies a valid entry at now under r (strategies.Freshness).
func (e *engine) ageOf(r *Rule, ent *codec.Entry) strategies.Age {
	f := strategies.Freshness{Beta: r.Beta, StaleWhileRevalidate: r.StaleWhileRevalidate}
	return f.Age(e.now(), ent.Expires, ent.Delta, e.rand)
}

// staleUsable reports whether f, a valid copy past its TTL, is still inside a stale window of length
// window (0: no window).
func (e *engine) staleUsable(f *found, window time.Duration) bool {
	return f != nil && window > 0 && e.now().Before(f.ent.Expires.Add(window))
}

// storeTTL is how long the store keeps an entry: its TTL plus the longest stale window.
func storeTTL(r *Rule, ttl time.Duration) time.Duration {
	return ttl + max(r.StaleWhileRevalidate, r.StaleIfError)
}

// fillReq describes one miss to load.
type fillReq struct {
	key string
	// tokenKeys name the generation tokens the entry records; tokens holds their values, read before
	// the query.
	tokenKeys []string
	tokens    []uint64
	// guard is set for a row entry: the key of the row's token (the last of tokenKeys). The entry is
	// stored only while that token still has the value read before the query, so that of two fills
	// of one row the one made after the later write wins.
	guard string
	ttl   time.Duration
	// stale is a valid copy past its TTL, for the rule's stale windows; current is the fresh copy an
	// early recompute replaces (served if another process is already recomputing it).
	stale, current *found
	// force skips the re-check of the cache (WithRefresh, refreshes); bg is a background refresh,
	// which never waits for another filler; noLease (write-through) neither takes nor waits for a
	// lease: it must fill after its write, whoever else is filling.
	force, bg, noLease bool
}

// loadShared is a miss under stampede control.
func (e *engine) loadShared(ctx context.Context, p *plan, req *fillReq, next wrap.QueryFunc) (driver.Rows, error) {
	v, leader, err := e.flight.Do(ctx, req.key, e.opts.FillTimeout, func(fctx context.Context) (any, error) {
		return e.load(fctx, p, req, next)
	})
	res, _ := v.(*loaded)
	switch {
	case leader && res != nil && (err == nil || errors.Is(err, errNotShared)):
		return e.serveLoaded(ctx, p, res, true)
	case leader:
		if e.staleUsable(req.stale, p.rule.StaleIfError) && ctx.Err() == nil {
			return e.serveStale(ctx, p, req.stale.ent, staleIfError), nil
		}
		return nil, err
	case err == nil && !equalTokens(res.ent.Tokens, req.tokens):
		// The flight began before this read did, and a write may have returned in between: its
		// result is not fresh enough for this caller, whose own tokens are newer. Load alone.
		res, err := e.load(ctx, p, req, next)
		if err != nil && !errors.Is(err, errNotShared) || res == nil {
			return nil, err
		}
		return e.serveLoaded(ctx, p, res, true)
	case err == nil:
		e.stats.shared.Add(1)
		return e.serveLoaded(ctx, p, res, false)
	case errors.Is(err, errNotShared), errors.Is(err, context.Canceled) && ctx.Err() == nil:
		// Not shareable, or the flight ended because its callers gave up: query alone.
		e.bypass(ctx, p, bypassNotShared)
		return next(ctx)
	case e.staleUsable(req.stale, p.rule.StaleIfError) && ctx.Err() == nil:
		return e.serveStale(ctx, p, req.stale.ent, staleIfError), nil
	}
	return nil, err
}

// serveLoaded gives one caller the rows of a load.
func (e *engine) serveLoaded(ctx context.Context, p *plan, res *loaded, leader bool) (driver.Rows, error) {
	if res.rows != nil {
		return res.rows, nil
	}
	ent := res.ent
	if !leader {
		// Each waiter decodes its own copy: rows hand their values to database/sql, which may pass
		// []byte values on without copying (sql.RawBytes).
		var err error
		if ent, err = codec.Decode(res.b); err != nil { // never for bytes just encoded or fetched
			return nil, err
		}
	}
	if res.stale {
		return e.serveStale(ctx, p, ent, res.staleWhy), nil
	}
	return wrap.WrapRows(newCachedRows(ent), wrap.RowsMask(ent.Flags)), nil
}

// load runs once per flight, on the connection of the caller that started it.
func (e *engine) load(ctx context.Context, p *plan, req *fillReq, next wrap.QueryFunc) (*loaded, error) {
	// Check the cache again inside the flight. It prevents this interleaving: A misses; B's flight
	// fills the entry and ends; A, arriving after it ended, starts a new flight and would query the
	// database for an entry that is now there.
	// An early recompute (req.current) skips it: the entry it replaces is still fresh.
	if !req.force && req.current == nil {
		if f := e.recheck(ctx, p, req); f != nil {
			return &loaded{b: f.encoded(), ent: f.ent}, nil
		}
	}
	var lease lockstore.Lease
	held := false
	if !req.noLease {
		lease, held = e.acquireLease(ctx, p, req.key)
	}
	if !held && !p.rule.NoLease && !req.noLease {
		switch {
		case req.current != nil: // an early recompute that another process is doing: keep serving
			return &loaded{b: req.current.encoded(), ent: req.current.ent}, nil
		case req.bg: // a refresh that another process is doing
			return nil, errNotShared
		}
		f, l, took := e.waitForFill(ctx, p, req)
		switch {
		case f != nil:
			return &loaded{b: f.encoded(), ent: f.ent}, nil
		case took:
			lease, held = l, true
		case e.staleUsable(req.stale, max(p.rule.StaleIfError, p.rule.StaleWhileRevalidate)):
			return &loaded{ent: req.stale.ent, b: req.stale.encoded(), stale: true, staleWhy: staleWaited}, nil
		}
	}
	if held {
		defer e.releaseLease(ctx, lease)
	}
	res, err := e.query(ctx, p, req, next)
	if err != nil && !errors.Is(err, errNotShared) && e.staleUsable(req.stale, p.rule.StaleIfError) {
		return &loaded{ent: req.stale.ent, b: req.stale.encoded(), stale: true, staleWhy: staleIfError}, nil
	}
	return res, err
}

// recheck looks the entry up again; it returns it only if it is valid and fresh.
func (e *engine) recheck(ctx context.Context, p *plan, req *fillReq) *found {
	tokens := make([]uint64, len(req.tokenKeys))
	sctx, cancel := e.storeCtx(ctx)
	ent, b, err := e.fetch(sctx, req, tokens)
	cancel()
	if err != nil || ent == nil {
		return nil
	}
	if !allSet(tokens) || !equalTokens(ent.Tokens, tokens) || !e.now().Before(ent.Expires) {
		return nil
	}
	return &found{ent: ent, b: b}
}

// leaseKey names the fill lease of an entry.
func (e *engine) leaseKey(key string) string {
	return e.entries.Prefix() + "l:" + key[len(e.entries.Prefix()):]
}

func (e *engine) acquireLease(ctx context.Context, p *plan, key string) (lockstore.Lease, bool) {
	if p.rule.NoLease {
		return lockstore.Lease{}, false
	}
	ttl := lockstore.LeaseTTL(time.Duration(p.delta.Load()), 0, 0)
	sctx, cancel := e.storeCtx(ctx)
	l, ok, err := e.leases.Acquire(sctx, e.leaseKey(key), ttl)
	cancel()
	switch {
	case err != nil:
		e.storeFailed(ctx, "lease", err)
		// Without a working store there is nobody to wait for: fill alone.
		return lockstore.Lease{}, false
	case ok:
		e.stats.leaseAcquired.Add(1)
		e.observeStampede(ctx, p, LeaseAcquired, 0)
	default:
		e.stats.leaseContended.Add(1)
		e.observeStampede(ctx, p, LeaseContended, 0)
	}
	return l, ok
}

func (e *engine) releaseLease(ctx context.Context, l lockstore.Lease) {
	sctx, cancel := e.storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	if _, err := e.leases.Release(sctx, l); err != nil {
		e.storeFailed(ctx, "release lease", err)
	}
}

// waitForFill polls for another process's fill, bounded by the rule's LockWait and ctx. Between polls
// that find no valid entry it tries to take the lease: once the other filler has released it (its fill
// was made invalid by a write meanwhile, or it failed), waiting longer is pointless, and this caller
// fills instead, holding the lease. It returns the entry found, or the lease taken.
func (e *engine) waitForFill(ctx context.Context, p *plan, req *fillReq) (*found, lockstore.Lease, bool) {
	if p.rule.LockWait <= 0 {
		return nil, lockstore.Lease{}, false
	}
	e.stats.leaseWaited.Add(1)
	start := time.Now()
	var f *found
	var lease lockstore.Lease
	took := false
	ok, _ := lockstore.Poll(ctx, e.backoff, p.rule.LockWait, func(ctx context.Context) (bool, error) {
		if f = e.recheck(ctx, p, req); f != nil {
			return true, nil
		}
		ttl := lockstore.LeaseTTL(time.Duration(p.delta.Load()), 0, 0)
		sctx, cancel := e.storeCtx(ctx)
		l, got, err := e.leases.Acquire(sctx, e.leaseKey(req.key), ttl)
		cancel()
		if err == nil && got {
			lease, took = l, true
			e.stats.leaseAcquired.Add(1)
		}
		return took, nil
	})
	switch {
	case !ok:
		e.stats.leaseWaitTimeouts.Add(1)
		e.observeStampede(ctx, p, LeaseWaitTimedOut, time.Since(start))
	case f != nil:
		e.observeStampede(ctx, p, LeaseWaited, time.Since(start))
	}
	return f, lease, took
}

// query runs the statement on this connection and reads the whole result, up to the rule's caps,
// then stores it.
func (e *engine) query(ctx context.Context, p *plan, req *fillReq, next wrap.QueryFunc) (*loaded, error) {
	// The rows of a result that cannot be shared outlive the load: they go on serving the caller that
	// ran it. So the query runs on a context of its own that follows ctx only while the load runs.
	qctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(ctx, stop)
	defer unhook()
	hook(e.opts.test.beforeQuery)
	start := e.now()
	rows, err := next(qctx)
	if err != nil {
		stop()
		return nil, err
	}
	rec := newRecorder(p, req.tokens, rows)
	readErr := rec.read()
	if readErr != nil {
		rec.fail("query error")
	}
	if rec.failed {
		e.skipFill(ctx, p, rec.why)
		// This caller gets what was read, then the rest of the parent's rows or the error where it
		// happened, as the parent would have given them; the others query alone.
		if unhook() {
			return &loaded{rows: newReplay(rec, readErr, stop)}, errNotShared
		}
		stop() // ctx ended meanwhile: the rows are of no use
		rec.parent.Close()
		return nil, ctx.Err()
	}
	err = rec.parent.Close()
	stop()
	if err != nil {
		return nil, err
	}
	rec.ent.Delta = e.now().Sub(start)
	p.delta.Store(int64(rec.ent.Delta))
	rec.ent.Created = e.now()
	rec.ent.Expires = rec.ent.Created.Add(req.ttl)
	hook(e.opts.test.beforeFill)
	b, stored := e.fill(ctx, p, req, &rec.ent)
	if b == nil {
		// Not storable (not encodable, or over max_bytes): only this caller gets the rows.
		return &loaded{ent: &rec.ent}, errNotShared
	}
	return &loaded{b: b, ent: &rec.ent, stored: stored}, nil
}
