package strategies

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/cachedsql/cachedsql/internal/codec"
	"github.com/cachedsql/cachedsql/lockstore"
)

// A miss goes through three layers of stampede control (DESIGN.md, "Stampede prevention"):
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
//     while one request revalidates, and hot entries are refreshed ahead of expiry (the
//     root's refresher).
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

// loadShared is a miss under stampede control.
func (c *CacheAside) loadShared(ctx context.Context, req *Request, q Query) (driver.Rows, error) {
	for round := 0; ; round++ {
		v, leader, err := c.Flight.Do(ctx, req.Key, c.FillTimeout, func(fctx context.Context) (any, error) {
			return c.load(fctx, req, q)
		})
		res, _ := v.(*loaded)
		switch {
		case leader && res != nil && (err == nil || errors.Is(err, errNotShared)):
			return c.serveLoaded(ctx, req, res, true)
		case leader:
			if c.staleUsable(req.stale, req.Policy.StaleIfError) && ctx.Err() == nil {
				return c.serveStale(ctx, req, req.stale.ent, StaleIfError), nil
			}
			return nil, err
		case err == nil && !sharable(res, req) && round == 0:
			// The flight began before this read did, and a write may have returned in between: its
			// result is not fresh enough for this caller. A flight found now began after this read
			// did (the old one has ended), so its result will be.
			continue
		case err == nil && !sharable(res, req):
			res, err := c.load(ctx, req, q)
			if err != nil && !errors.Is(err, errNotShared) || res == nil {
				return nil, err
			}
			return c.serveLoaded(ctx, req, res, true)
		case err == nil:
			req.Subject.Stampede(ctx, SharedLoad, 0)
			return c.serveLoaded(ctx, req, res, false)
		case errors.Is(err, errNotShared), errors.Is(err, context.Canceled) && ctx.Err() == nil:
			// Not shareable, or the flight ended because its callers gave up: query alone.
			return req.Subject.QueryAlone(ctx, q)
		case c.staleUsable(req.stale, req.Policy.StaleIfError) && ctx.Err() == nil:
			return c.serveStale(ctx, req, req.stale.ent, StaleIfError), nil
		}
		return nil, err
	}
}

// sharable reports whether res, the result of a load another caller ran, may serve req: it cannot
// predate a write that returned before req's read began. Either its query (or the round trip that
// found it) began after req's read did, or it records the very tokens req's own lookup read, so no
// write was delivered in between. Without tokens of its own (a failed lookup, an open breaker) only
// the first applies: a read that begins after a shared query began waits for the next one.
func sharable(res *loaded, req *Request) bool {
	if !res.since.Before(req.Start) {
		return true
	}
	return !req.unknown && !req.noStore && equalTokens(res.ent.Tokens, req.Tokens)
}

// serveLoaded gives one caller the rows of a load.
func (c *CacheAside) serveLoaded(ctx context.Context, req *Request, res *loaded, leader bool) (driver.Rows, error) {
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
		return c.serveStale(ctx, req, ent, res.staleWhy), nil
	}
	return newCachedRows(ent), nil
}

// load runs once per flight, on the connection of the caller that started it.
func (c *CacheAside) load(ctx context.Context, req *Request, q Query) (*loaded, error) {
	if req.noStore || req.unknown && !c.Health.Allow() {
		// Nothing to ask the store: one query for every caller of this flight, not stored.
		req.noStore = true
		return c.query(ctx, req, q)
	}
	unsure := false // the re-check's round trip failed
	switch {
	case req.unknown:
		// The caller's lookup failed. Look again: once for the whole flight, however many callers joined
		// it, and it reads the tokens a fill must record.
		if f := c.relookup(ctx, req); f != nil && !req.Force {
			return f.loaded(), nil
		}
	case !req.Force && req.current == nil:
		// Check the cache again inside the flight. It prevents this interleaving: A misses; B's flight
		// fills the entry and ends; A, arriving after it ended, starts a new flight and would query the
		// database for an entry that is now there.
		// An early recompute (req.current) skips it: the entry it replaces is still fresh.
		f, err := c.recheck(ctx, req)
		if f != nil {
			return f.loaded(), nil
		}
		unsure = err != nil
	}
	var lease lockstore.Lease
	held, failing := false, false
	if !req.NoLease && !req.Policy.NoLease {
		lease, held, failing = c.acquireLease(ctx, req)
	}
	if !held && !failing && !req.Policy.NoLease && !req.NoLease {
		// lease is set when the Acquire failed: its reply may have been lost after it took the lease.
		if (req.current != nil || req.Background) && lease.Token != "" {
			c.releaseLease(ctx, lease)
		}
		switch {
		case req.current != nil: // an early recompute that another process is doing: keep serving
			return req.current.loaded(), nil
		case req.Background: // a refresh that another process is doing
			return nil, errNotShared
		}
		f, l, took := c.waitForFill(ctx, req, lease)
		switch {
		case f != nil:
			return f.loaded(), nil
		case took:
			lease, held = l, true
		case c.staleUsable(req.stale, max(req.Policy.StaleIfError, req.Policy.StaleWhileRevalidate)):
			return req.stale.staleLoaded(StaleLockWait), nil
		}
	}
	if held {
		defer c.releaseLease(ctx, lease)
		if unsure {
			// The re-check could not tell whether the entry is there, and the lease was free: the last
			// filler may have just stored it and let go (a slow round trip is not a miss).
			if f, _ := c.recheck(ctx, req); f != nil {
				return f.loaded(), nil
			}
		}
	}
	if req.unknown && !c.tokensForFill(ctx, req) {
		req.noStore = true // no tokens to record: query for the callers, store nothing
	}
	res, err := c.query(ctx, req, q)
	if err != nil && !errors.Is(err, errNotShared) && c.staleUsable(req.stale, req.Policy.StaleIfError) {
		return req.stale.staleLoaded(StaleIfError), nil
	}
	return res, err
}

// relookup looks the entry of req up again after the caller's lookup failed (lookup, reading the tokens
// into req.Tokens). It returns the entry if it is valid and fresh. On success req is no longer unknown,
// though its tokens may still be incomplete (ensureTokens completes them).
func (c *CacheAside) relookup(ctx context.Context, req *Request) *found {
	at := time.Now()
	ent, b, err := c.lookup(ctx, req)
	if err != nil {
		c.Health.StoreFailed(ctx, "fetch", err)
		clear(req.Tokens)
		return nil
	}
	req.unknown = !allSet(req.Tokens)
	if ent == nil || !c.Clock.Now().Before(ent.Expires) {
		return nil
	}
	return &found{ent: ent, b: b, at: at}
}

// ensureTokens completes req.Tokens, creating the tokens that are missing from the store, after the
// store was found to lack some (a new or flushed store). It reports whether req.Tokens is complete.
func (c *CacheAside) ensureTokens(ctx context.Context, req *Request) bool {
	if allSet(req.Tokens) {
		return true
	}
	// A missing epoch or keyed token means a flushed (or new) store, whose registry is gone too: register
	// the row key again before querying. A missing row token alone is a row not read before.
	if req.Guard != "" && !allSet(req.Tokens[:2]) && !req.Subject.Register(ctx, true) {
		return false
	}
	sctx, cancel := c.storeCtx(ctx)
	err := c.Store.EnsureTokens(sctx, req.TokenKeys, req.Tokens)
	cancel()
	if err != nil {
		c.Health.StoreFailed(ctx, "fetch", err)
		return false
	}
	c.Health.StoreOK()
	return true
}

// tokensForFill reads the tokens a fill records after the caller's lookup failed, trying twice: a fill
// that cannot record tokens is not stored, and other processes waiting for it then query too, so one
// slow round trip must not cost that. An open breaker means no store call at all.
func (c *CacheAside) tokensForFill(ctx context.Context, req *Request) bool {
	for range 2 {
		if !c.Health.Allow() {
			return false
		}
		if c.ensureTokens(ctx, req) {
			return true
		}
	}
	return false
}

// recheck looks the entry up again; it returns it only if it is valid and fresh. err is the store's
// error, if the round trip failed.
func (c *CacheAside) recheck(ctx context.Context, req *Request) (*found, error) {
	at := time.Now()
	tokens := make([]uint64, len(req.TokenKeys))
	sctx, cancel := c.storeCtx(ctx)
	ent, b, err := c.fetch(sctx, req, tokens)
	cancel()
	if err != nil && !errors.Is(err, errCorruptEntry) {
		return nil, err
	}
	c.Health.StoreOK()
	if ent == nil || !allSet(tokens) || !equalTokens(ent.Tokens, tokens) || !c.Clock.Now().Before(ent.Expires) {
		return nil, nil
	}
	return &found{ent: ent, b: b, at: at}, nil
}

// acquireLease tries once to take the fill lease of key. failing reports that the store is failing (the
// breaker is open): there is nobody to wait for. A lease call that merely failed is not that: another
// process may hold the lease, and the caller waits for its fill (waitForFill) as when it is held. The
// Acquire may even have taken the lease, its reply lost: l is then the lease it tried, not held.
func (c *CacheAside) acquireLease(ctx context.Context, req *Request) (l lockstore.Lease, held, failing bool) {
	if req.Policy.NoLease {
		return lockstore.Lease{}, false, false
	}
	ttl := lockstore.LeaseTTL(time.Duration(req.Delta.Load()), 0, 0)
	sctx, cancel := c.storeCtx(ctx)
	l, ok, err := c.Leases.Acquire(sctx, c.LeaseKey(req.Key), ttl)
	cancel()
	switch {
	case err != nil:
		c.Health.StoreFailed(ctx, "lease", err)
		return l, false, !c.Health.Allow()
	case ok:
		c.Health.StoreOK()
		req.Subject.Stampede(ctx, LeaseAcquired, 0)
	default:
		c.Health.StoreOK()
		req.Subject.Stampede(ctx, LeaseContended, 0)
	}
	return l, ok, false
}

func (c *CacheAside) releaseLease(ctx context.Context, l lockstore.Lease) {
	sctx, cancel := c.storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	if _, err := c.Leases.Release(sctx, l); err != nil {
		c.Health.StoreFailed(ctx, "release lease", err)
	}
}

// waitForFill polls for another process's fill, bounded by the rule's LockWait and ctx. Between polls
// that find no valid entry it tries to take the lease: once the other filler has released it (its fill
// was made invalid by a write meanwhile, or it failed), waiting longer is pointless, and this caller
// fills instead, holding the lease. It returns the entry found, or the lease taken. A poll whose store
// calls fail goes on polling (one slow round trip is not an outage) until the breaker opens. tried, if
// set, is a lease that a failed Acquire may have taken: the polls try to take that one, so that this
// caller does not wait for a lease it holds itself, and it is given back if the caller does not fill.
func (c *CacheAside) waitForFill(ctx context.Context, req *Request, tried lockstore.Lease) (*found, lockstore.Lease, bool) {
	if req.Policy.LockWait <= 0 {
		return nil, lockstore.Lease{}, false
	}
	req.Subject.Stampede(ctx, LeaseWaitBegan, 0)
	start := c.Clock.Now()
	var f *found
	var lease lockstore.Lease
	took := false
	ok, _ := lockstore.Poll(ctx, c.Backoff, req.Policy.LockWait, func(ctx context.Context) (bool, error) {
		var err error
		if f, err = c.recheck(ctx, req); f != nil {
			return true, nil
		}
		if err == nil {
			if f, lease, took, err = c.takeLease(ctx, req, &tried); f != nil || took {
				return true, nil
			}
		}
		if err != nil {
			// One slow round trip is not an outage: go on polling, unless the breaker has opened.
			c.Health.StoreFailed(ctx, "lease wait", err)
			if !c.Health.Allow() {
				return false, errStoreFailing
			}
		}
		return false, nil
	})
	if tried.Token != "" {
		c.releaseLease(ctx, tried)
	}
	switch {
	case f != nil:
		req.Subject.Stampede(ctx, LeaseWaited, c.Clock.Now().Sub(start))
	case !ok:
		req.Subject.Stampede(ctx, LeaseWaitTimedOut, c.Clock.Now().Sub(start))
	}
	return f, lease, took
}

// takeLease tries to take the lease a waiter waits for. Having taken it, it looks the cache up again:
// the holder may have filled and released it between the waiter's last look and now (seen as 200
// reads → 2 queries). It then returns the entry found and gives the lease back. *tried is a lease that
// a failed call may have taken: it is taken again by its token (Reacquire), and cleared once settled.
func (c *CacheAside) takeLease(ctx context.Context, req *Request, tried *lockstore.Lease) (*found, lockstore.Lease, bool, error) {
	ttl := lockstore.LeaseTTL(time.Duration(req.Delta.Load()), 0, 0)
	sctx, cancel := c.storeCtx(ctx)
	var l lockstore.Lease
	var got bool
	var err error
	if tried.Token != "" {
		l, got, err = c.Leases.Reacquire(sctx, *tried, ttl)
	} else if l, got, err = c.Leases.Acquire(sctx, c.LeaseKey(req.Key), ttl); err != nil {
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
	c.Health.StoreOK()
	if f, _ := c.recheck(ctx, req); f != nil {
		c.releaseLease(ctx, l)
		return f, lockstore.Lease{}, false, nil
	}
	req.Subject.Stampede(ctx, LeaseAcquired, 0)
	return nil, l, true, nil
}

// query runs the statement on this connection and reads the whole result, up to the rule's caps,
// then stores it.
func (c *CacheAside) query(ctx context.Context, req *Request, q Query) (*loaded, error) {
	// The rows of a result that cannot be shared outlive the load: they go on serving the caller that
	// ran it. So the query runs on a context of its own that follows ctx only while the load runs.
	qctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(ctx, stop)
	defer unhook()
	hook(c.Hooks.BeforeQuery)
	since, start := time.Now(), c.Clock.Now()
	rows, err := q(qctx)
	if err != nil {
		stop()
		req.Subject.Loaded(ctx, req.loadEvent(c.Clock.Now().Sub(start), 0, 0, err))
		return nil, err
	}
	rec := newRecorder(req.Policy, req.Tokens, rows)
	readErr := rec.read()
	if readErr != nil {
		rec.fail("query error")
	}
	if rec.failed {
		req.Subject.FillSkipped(ctx, rec.why)
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
	rec.ent.Delta = c.Clock.Now().Sub(start)
	req.Delta.Store(int64(rec.ent.Delta))
	rec.ent.Created = c.Clock.Now()
	rec.ent.Expires = rec.ent.Created.Add(req.TTL)
	hook(c.Hooks.BeforeFill)
	b, stored := c.fill(ctx, req, &rec.ent)
	req.Subject.Loaded(ctx, req.loadEvent(rec.ent.Delta, len(rec.ent.Rows), len(b), nil))
	if b == nil {
		// Not storable (not encodable, or over max_bytes): only this caller gets the rows.
		return &loaded{ent: &rec.ent, since: since}, errNotShared
	}
	return &loaded{b: b, ent: &rec.ent, stored: stored, since: since}, nil
}

// loadEvent describes the query of a load of req: it took d and read rows rows, encoded in size bytes,
// or failed with err.
func (req *Request) loadEvent(d time.Duration, rows, size int, err error) LoadEvent {
	return LoadEvent{Background: req.Background || req.NoLease, NotStored: req.noStore, Duration: d, Rows: rows,
		Bytes: size, Err: err}
}
