package cachedsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/codec"
	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/lockstore"
	"github.com/cachedsql/cachedsql/strategies"
)

// A miss goes through three layers of stampede control (DESIGN.md, issue "Stampede prevention"):
//
//  1. In-process single flight (lockstore.Group): concurrent misses of one entry in one process share
//     one load. The first caller runs it on its own connection; the others wait on their own context.
//     Reads whose lookup failed or timed out, and reads while the circuit breaker keeps the store out
//     of the way, go through the same flight: a slow store must not turn N readers into N queries.
//  2. Inside the flight, the cache is checked again, then a store lease elects one filler among
//     processes. A process that does not get the lease polls for the other's fill for the rule's
//     LockWait, then serves a stale copy where the rule allows, or queries the database itself. One
//     slow round trip (a lookup or lease call over StoreTimeout) does not make a caller fill alone:
//     only an open breaker means that there is nobody to wait for.
//  3. Hits recompute early with probability rising towards expiry (XFetch), stale copies are served
//     while one request revalidates, and hot entries are refreshed ahead of expiry (refresh.go).
//
// None of this is needed for correctness: every fill records the generation tokens read before its
// query, so a fill by a second filler, or after a lease expired, is wasted work, never a stale read.
// Sharing is: a caller takes another's result only if it cannot predate a write that returned before
// the caller began (sharable).

// errStoreFailing ends a lease wait when the breaker has opened: nobody can be waited for.
var errStoreFailing = errors.New("cachedsql: store failing")

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
	staleWhy StaleReason
	// stored: the load stored its result.
	stored bool
	// since is when the query or store round trip that produced the result began (or earlier).
	since time.Time
}

// found is what a lookup learnt about an entry whose generation tokens are current.
type found struct {
	ent *codec.Entry
	// b is the entry as stored; nil for a row entry (stored as a hash).
	b []byte
	// at is when the round trip that found it began (or earlier).
	at time.Time
}

// loaded returns f as the result of a load.
func (f *found) loaded() *loaded {
	return &loaded{b: f.encoded(), ent: f.ent, since: f.at}
}

// staleLoaded returns f, a copy past its TTL, as the result of a load served under the stale window why.
func (f *found) staleLoaded(why StaleReason) *loaded {
	return &loaded{b: f.encoded(), ent: f.ent, since: f.at, stale: true, staleWhy: why}
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
	// start is when the read began (monotonic clock).
	start time.Time
	// noStore: the store is not to be called (the breaker is open, or an invalidation of these tables
	// is pending): the load queries and shares the rows without storing them.
	noStore bool
	// unknown: the caller's lookup failed, so tokens holds nothing read from the store; the load looks
	// the entry up again, inside the flight, before it fills.
	unknown bool
}

// loadShared is a miss under stampede control.
func (e *engine) loadShared(ctx context.Context, p *plan, req *fillReq, next wrap.QueryFunc) (driver.Rows, error) {
	for round := 0; ; round++ {
		v, leader, err := e.flight.Do(ctx, req.key, e.opts.FillTimeout, func(fctx context.Context) (any, error) {
			return e.load(fctx, p, req, next)
		})
		res, _ := v.(*loaded)
		switch {
		case leader && res != nil && (err == nil || errors.Is(err, errNotShared)):
			return e.serveLoaded(ctx, p, res, true)
		case leader:
			if e.staleUsable(req.stale, p.rule.StaleIfError) && ctx.Err() == nil {
				return e.serveStale(ctx, p, req.stale.ent, StaleIfError), nil
			}
			return nil, err
		case err == nil && !sharable(res, req) && round == 0:
			// The flight began before this read did, and a write may have returned in between: its
			// result is not fresh enough for this caller. A flight found now began after this read
			// did (the old one has ended), so its result will be.
			continue
		case err == nil && !sharable(res, req):
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
			return e.bypassRead(ctx, p, BypassNotShared, next)
		case e.staleUsable(req.stale, p.rule.StaleIfError) && ctx.Err() == nil:
			return e.serveStale(ctx, p, req.stale.ent, StaleIfError), nil
		}
		return nil, err
	}
}

// sharable reports whether res, the result of a load another caller ran, may serve req: it cannot
// predate a write that returned before req's read began. Either its query (or the round trip that
// found it) began after req's read did, or it records the very tokens req's own lookup read, so no
// write was delivered in between. Without tokens of its own (a failed lookup, an open breaker) only
// the first applies: a read that begins after a shared query began waits for the next one.
func sharable(res *loaded, req *fillReq) bool {
	if !res.since.Before(req.start) {
		return true
	}
	return !req.unknown && !req.noStore && equalTokens(res.ent.Tokens, req.tokens)
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
	if req.noStore || req.unknown && !e.breaker.Allow(e.now()) {
		// Nothing to ask the store: one query for every caller of this flight, not stored.
		req.noStore = true
		return e.query(ctx, p, req, next)
	}
	switch {
	case req.unknown:
		// The caller's lookup failed. Look again: once for the whole flight, however many callers joined
		// it, and it reads the tokens a fill must record.
		if f := e.relookup(ctx, req); f != nil && !req.force {
			return f.loaded(), nil
		}
	case !req.force && req.current == nil:
		// Check the cache again inside the flight. It prevents this interleaving: A misses; B's flight
		// fills the entry and ends; A, arriving after it ended, starts a new flight and would query the
		// database for an entry that is now there.
		// An early recompute (req.current) skips it: the entry it replaces is still fresh.
		if f, _ := e.recheck(ctx, p, req); f != nil {
			return f.loaded(), nil
		}
	}
	var lease lockstore.Lease
	held, failing := false, false
	if !req.noLease && !p.rule.NoLease {
		lease, held, failing = e.acquireLease(ctx, p, req.key)
	}
	if !held && !failing && !p.rule.NoLease && !req.noLease {
		// lease is set when the Acquire failed: its reply may have been lost after it took the lease.
		if (req.current != nil || req.bg) && lease.Token != "" {
			e.releaseLease(ctx, lease)
		}
		switch {
		case req.current != nil: // an early recompute that another process is doing: keep serving
			return req.current.loaded(), nil
		case req.bg: // a refresh that another process is doing
			return nil, errNotShared
		}
		f, l, took := e.waitForFill(ctx, p, req, lease)
		switch {
		case f != nil:
			return f.loaded(), nil
		case took:
			lease, held = l, true
		case e.staleUsable(req.stale, max(p.rule.StaleIfError, p.rule.StaleWhileRevalidate)):
			return req.stale.staleLoaded(StaleLockWait), nil
		}
	}
	if held {
		defer e.releaseLease(ctx, lease)
	}
	if req.unknown && !e.tokensForFill(ctx, p, req) {
		req.noStore = true // no tokens to record: query for the callers, store nothing
	}
	res, err := e.query(ctx, p, req, next)
	if err != nil && !errors.Is(err, errNotShared) && e.staleUsable(req.stale, p.rule.StaleIfError) {
		return req.stale.staleLoaded(StaleIfError), nil
	}
	return res, err
}

// relookup looks the entry of req up again after the caller's lookup failed (lookup, reading the tokens
// into req.tokens). It returns the entry if it is valid and fresh. On success req is no longer unknown,
// though its tokens may still be incomplete (ensureTokens completes them).
func (e *engine) relookup(ctx context.Context, req *fillReq) *found {
	at := time.Now()
	ent, b, err := e.lookup(ctx, req)
	if err != nil {
		e.storeFailed(ctx, "fetch", err)
		clear(req.tokens)
		return nil
	}
	req.unknown = !allSet(req.tokens)
	if ent == nil || !e.now().Before(ent.Expires) {
		return nil
	}
	return &found{ent: ent, b: b, at: at}
}

// ensureTokens completes req.tokens, creating the tokens that are missing from the store, after the
// store was found to lack some (a new or flushed store). It reports whether req.tokens is complete.
func (e *engine) ensureTokens(ctx context.Context, p *plan, req *fillReq) bool {
	if allSet(req.tokens) {
		return true
	}
	// A missing epoch or keyed token means a flushed (or new) store, whose registry is gone too: register
	// the row key again before querying. A missing row token alone is a row not read before.
	if p.row != nil && !allSet(req.tokens[:2]) && !e.reregisterRow(ctx, p) {
		return false
	}
	sctx, cancel := e.storeCtx(ctx)
	err := e.st.EnsureTokens(sctx, req.tokenKeys, req.tokens)
	cancel()
	if err != nil {
		e.storeFailed(ctx, "fetch", err)
		return false
	}
	e.storeOK()
	return true
}

// tokensForFill reads the tokens a fill records after the caller's lookup failed, trying twice: a fill
// that cannot record tokens is not stored, and other processes waiting for it then query too, so one
// slow round trip must not cost that. An open breaker means no store call at all.
func (e *engine) tokensForFill(ctx context.Context, p *plan, req *fillReq) bool {
	for range 2 {
		if !e.breaker.Allow(e.now()) {
			return false
		}
		if e.ensureTokens(ctx, p, req) {
			return true
		}
	}
	return false
}

// recheck looks the entry up again; it returns it only if it is valid and fresh. err is the store's
// error, if the round trip failed.
func (e *engine) recheck(ctx context.Context, p *plan, req *fillReq) (*found, error) {
	at := time.Now()
	tokens := make([]uint64, len(req.tokenKeys))
	sctx, cancel := e.storeCtx(ctx)
	ent, b, err := e.fetch(sctx, req, tokens)
	cancel()
	if err != nil && !errors.Is(err, errCorruptEntry) {
		return nil, err
	}
	e.storeOK()
	if ent == nil || !allSet(tokens) || !equalTokens(ent.Tokens, tokens) || !e.now().Before(ent.Expires) {
		return nil, nil
	}
	return &found{ent: ent, b: b, at: at}, nil
}

// leaseKey names the fill lease of an entry.
func (e *engine) leaseKey(key string) string {
	return e.entries.Lease(key)
}

// acquireLease tries once to take the fill lease of key. failing reports that the store is failing (the
// breaker is open): there is nobody to wait for. A lease call that merely failed is not that: another
// process may hold the lease, and the caller waits for its fill (waitForFill) as when it is held. The
// Acquire may even have taken the lease, its reply lost: l is then the lease it tried, not held.
func (e *engine) acquireLease(ctx context.Context, p *plan, key string) (l lockstore.Lease, held, failing bool) {
	if p.rule.NoLease {
		return lockstore.Lease{}, false, false
	}
	ttl := lockstore.LeaseTTL(time.Duration(p.delta.Load()), 0, 0)
	sctx, cancel := e.storeCtx(ctx)
	l, ok, err := e.leases.Acquire(sctx, e.leaseKey(key), ttl)
	cancel()
	switch {
	case err != nil:
		e.storeFailed(ctx, "lease", err)
		return l, false, !e.breaker.Allow(e.now())
	case ok:
		e.storeOK()
		e.stats.leaseAcquired.Add(1)
		e.observeStampede(ctx, p, LeaseAcquired, 0)
	default:
		e.storeOK()
		e.stats.leaseContended.Add(1)
		e.observeStampede(ctx, p, LeaseContended, 0)
	}
	return l, ok, false
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
// fills instead, holding the lease. It returns the entry found, or the lease taken. A poll whose store
// calls fail goes on polling (one slow round trip is not an outage) until the breaker opens. tried, if
// set, is a lease that a failed Acquire may have taken: the polls try to take that one, so that this
// caller does not wait for a lease it holds itself, and it is given back if the caller does not fill.
func (e *engine) waitForFill(ctx context.Context, p *plan, req *fillReq, tried lockstore.Lease) (*found, lockstore.Lease, bool) {
	if p.rule.LockWait <= 0 {
		return nil, lockstore.Lease{}, false
	}
	e.stats.leaseWaited.Add(1)
	start := e.now()
	var f *found
	var lease lockstore.Lease
	took := false
	ok, _ := lockstore.Poll(ctx, e.backoff, p.rule.LockWait, func(ctx context.Context) (bool, error) {
		var err error
		if f, err = e.recheck(ctx, p, req); f != nil {
			return true, nil
		}
		if err == nil {
			if f, lease, took, err = e.takeLease(ctx, p, req, &tried); f != nil || took {
				return true, nil
			}
		}
		if err != nil {
			// One slow round trip is not an outage: go on polling, unless the breaker has opened.
			e.storeFailed(ctx, "lease wait", err)
			if !e.breaker.Allow(e.now()) {
				return false, errStoreFailing
			}
		}
		return false, nil
	})
	if tried.Token != "" {
		e.releaseLease(ctx, tried)
	}
	switch {
	case f != nil:
		e.observeStampede(ctx, p, LeaseWaited, clock.Since(e.clock, start))
	case !ok:
		e.stats.leaseWaitTimeouts.Add(1)
		e.observeStampede(ctx, p, LeaseWaitTimedOut, clock.Since(e.clock, start))
	}
	return f, lease, took
}

// takeLease tries to take the lease a waiter waits for. Having taken it, it looks the cache up again:
// the holder may have filled and released it between the waiter's last look and now (seen as 200
// reads → 2 queries). It then returns the entry found and gives the lease back. *tried is a lease that
// a failed call may have taken: it is taken again by its token (Reacquire), and cleared once settled.
func (e *engine) takeLease(ctx context.Context, p *plan, req *fillReq, tried *lockstore.Lease) (*found, lockstore.Lease, bool, error) {
	ttl := lockstore.LeaseTTL(time.Duration(p.delta.Load()), 0, 0)
	sctx, cancel := e.storeCtx(ctx)
	var l lockstore.Lease
	var got bool
	var err error
	if tried.Token != "" {
		l, got, err = e.leases.Reacquire(sctx, *tried, ttl)
	} else if l, got, err = e.leases.Acquire(sctx, e.leaseKey(req.key), ttl); err != nil {
		*tried = l
	}
	cancel()
	if err != nil {
		return nil, lockstore.Lease{}, false, err
	}
	*tried = lockstore.Lease{} // taken, or another owner's: either way not left behind by this caller
	if !got {
		return nil, lockstore.Lease{}, false, nil
	}
	e.storeOK()
	if f, _ := e.recheck(ctx, p, req); f != nil {
		e.releaseLease(ctx, l)
		return f, lockstore.Lease{}, false, nil
	}
	e.stats.leaseAcquired.Add(1)
	return nil, l, true, nil
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
	since, start := time.Now(), e.now()
	rows, err := next(qctx)
	if err != nil {
		stop()
		e.observeLoad(ctx, p, req, e.now().Sub(start), 0, 0, err)
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
			return &loaded{rows: newReplay(rec, readErr, stop), since: since}, errNotShared
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
	e.observeLoad(ctx, p, req, rec.ent.Delta, len(rec.ent.Rows), len(b), nil)
	if b == nil {
		// Not storable (not encodable, or over max_bytes): only this caller gets the rows.
		return &loaded{ent: &rec.ent, since: since}, errNotShared
	}
	return &loaded{b: b, ent: &rec.ent, stored: stored, since: since}, nil
}
