package cachedsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"time"

	"github.com/cachedsql/cachedsql/internal/codec"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/strategies"
)

// read is the cache-aside path of a read that a rule matched (DESIGN.md, "Read path"):
//  1. one round trip fetches the entry and the current generation token of every table it reads;
//  2. a hit is an entry whose recorded tokens all equal the current ones;
//  3. on a miss the tokens read before the query are recorded in the new entry, so a fill that raced
//     a write is tagged with old tokens and can never be served.
func (e *engine) read(ctx context.Context, p *plan, args []driver.NamedValue, ctl control, next wrap.QueryFunc) (driver.Rows, error) {
	start := time.Now()
	h, why := e.hashArgs(p, args)
	if why != bypassNone {
		return e.bypassRead(ctx, p, why, next)
	}
	// req stays on the stack on the hit path; the miss path copies it to the heap.
	req := fillReq{ttl: p.rule.TTL, force: ctl.refresh, bg: ctl.background, noLease: ctl.writeThrough, start: start}
	if p.row == nil {
		req.key, req.tokenKeys = e.entries.Entry(p.st, h), p.readKeys
	} else if why := e.rowTarget(p, args, h, &req); why != bypassNone {
		return e.bypassRead(ctx, p, why, next)
	}
	if ctl.ttl > 0 {
		req.ttl = ctl.ttl
	}
	if !e.usable(req.tokenKeys) || p.row != nil && !e.registerRow(ctx, p) {
		return e.storeFailedRead(ctx, p, &req, next, nil)
	}
	tp := tokenPool.Get().(*[]uint64)
	if cap(*tp) < len(req.tokenKeys) {
		*tp = make([]uint64, len(req.tokenKeys))
	}
	req.tokens = (*tp)[:len(req.tokenKeys)]
	clear(req.tokens)
	if !ctl.refresh {
		ent, b, err := e.lookup(ctx, &req)
		hook(e.opts.test.afterTokens)
		if err != nil {
			return e.storeFailedRead(ctx, p, &req, next, err)
		}
		if ent != nil {
			switch e.ageOf(p.rule, ent) {
			case strategies.Fresh:
				tokenPool.Put(tp) // a hit does not keep its tokens; a miss records them in the entry
				e.hit(ctx, p, start)
				e.touchHot(p, req.key, ent, args)
				return wrap.WrapRows(newCachedRows(ent), wrap.RowsMask(ent.Flags)), nil
			case strategies.Early:
				e.stats.early.Add(1)
				e.observeStampede(ctx, p, EarlyRecompute, 0)
				req.current = &found{ent: ent, b: b, at: start}
			case strategies.Revalidate:
				tokenPool.Put(tp)
				e.refreshLater(p, req.key, args)
				return e.serveStale(ctx, p, ent, StaleRevalidate), nil
			case strategies.Stale:
				req.stale = &found{ent: ent, b: b, at: start}
			}
		}
	}
	if !e.ensureTokens(ctx, p, &req) {
		return e.storeFailedRead(ctx, p, &req, next, errTokens)
	}
	if req.current == nil && !req.bg { // early recomputes and refreshes are counted on their own
		e.miss(ctx, p)
	}
	miss := req
	return e.loadShared(ctx, p, &miss, next)
}

// tokenPool recycles the token buffers of hits.
var tokenPool = sync.Pool{New: func() any { s := make([]uint64, 0, 8); return &s }}

// lookup fetches the entry and the tokens in one round trip. It returns the entry, decoded and as
// stored (nil for a row entry), when it is valid: decodable, and recorded with the current generation
// tokens (whatever its age).
func (e *engine) lookup(ctx context.Context, req *fillReq) (*codec.Entry, []byte, error) {
	sctx, cancel := e.storeCtx(ctx)
	ent, b, err := e.fetch(sctx, req, req.tokens)
	cancel()
	if err != nil && !errors.Is(err, errCorruptEntry) {
		return nil, nil, err
	}
	e.storeOK()
	if err != nil {
		e.corrupt(ctx, req.key, err)
		return nil, nil, nil
	}
	if ent == nil {
		return nil, nil, nil
	}
	if !e.opts.testSkipTokenCheck && (!allSet(req.tokens) || !equalTokens(ent.Tokens, req.tokens)) {
		return nil, nil, nil // written since it was filled: a miss
	}
	return ent, b, nil
}

// errCorruptEntry marks a fetched entry that does not decode; the error it wraps says why.
var errCorruptEntry = errors.New("cachedsql: entry does not decode")

// fetch reads the entry of req and the current values of req.tokenKeys into tokens, in one round
// trip, and decodes the entry (nil when missing). Decoding before the token check costs a wasted decode
// only on an entry a write has made stale. A value that does not decode is reported as errCorruptEntry
// joined with the decoding error.
func (e *engine) fetch(ctx context.Context, req *fillReq, tokens []uint64) (*codec.Entry, []byte, error) {
	if req.guard != "" {
		fields, err := e.st.FetchHash(ctx, req.key, req.tokenKeys, tokens)
		if err != nil || fields == nil {
			return nil, nil, keyProblem(err)
		}
		ent, err := codec.DecodeRow(fields)
		if err == nil {
			err = ent.CheckKey(req.key)
		}
		if err != nil {
			return nil, nil, errors.Join(errCorruptEntry, err)
		}
		return ent, nil, nil
	}
	b, err := e.st.Fetch(ctx, req.key, req.tokenKeys, tokens)
	if err != nil || b == nil {
		return nil, nil, keyProblem(err)
	}
	ent, err := codec.Decode(b)
	if err == nil {
		err = ent.CheckKey(req.key) // a valid entry copied from another key is corrupt here
	}
	if err != nil {
		return nil, nil, errors.Join(errCorruptEntry, err)
	}
	return ent, b, nil
}

// keyProblem returns err, marked as a corrupt entry when it is a problem of the entry's key alone (another
// type, an oversized value) rather than a failure of the store: such a key must not open the breaker.
func keyProblem(err error) error {
	var ke *store.KeyError
	if errors.As(err, &ke) {
		return errors.Join(errCorruptEntry, err)
	}
	return err
}

// corrupt turns an entry that cannot be decoded into a miss, and deletes it unless it was merely written
// by another version of this package or is over this process's size bound (then the fill overwrites it).
func (e *engine) corrupt(ctx context.Context, key string, err error) {
	if errors.Is(err, codec.ErrUnknownType) {
		return
	}
	e.stats.corrupt.Add(1)
	if errors.Is(err, store.ErrTooLarge) {
		// Perhaps another process's entry under a larger max_bytes: left alone (our fill replaces it).
		e.log.WarnContext(ctx, "cachedsql: cache entry over max_bytes skipped", "key", key, "err", err)
		return
	}
	e.log.WarnContext(ctx, "cachedsql: corrupt cache entry deleted", "key", key, "err", err)
	sctx, cancel := e.storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	if err := e.st.Delete(sctx, key); err != nil {
		e.storeFailed(ctx, "delete", err)
	}
}

// errTokens reports that the tokens a fill records could not be read or created; the failure itself
// has been recorded.
var errTokens = errors.New("cachedsql: reading generation tokens failed")

// storeFailedRead sends a read whose lookup failed (err), or that may not use the store now (nil err:
// the breaker is open, or an invalidation of its tables is pending), to the database. It still goes
// through single flight, keyed by its entry: concurrent identical reads share one query, and, after a
// failed lookup, one more lookup inside the flight, which may find the entry or read the tokens to fill
// it with (one slow round trip is not an outage).
func (e *engine) storeFailedRead(ctx context.Context, p *plan, req *fillReq, next wrap.QueryFunc, err error) (driver.Rows, error) {
	if err != nil && !errors.Is(err, errTokens) && ctx.Err() == nil {
		e.storeFailed(ctx, "fetch", err)
	}
	e.bypass(ctx, p, BypassStore)
	if req.bg || req.noLease {
		// A background refresh, or a write-through's fill: neither has callers to share with.
		return next(ctx)
	}
	miss := *req
	miss.noStore, miss.unknown = err == nil, err != nil
	miss.current, miss.stale = nil, nil
	return e.loadShared(ctx, p, &miss, next)
}

func allSet(tokens []uint64) bool {
	for _, t := range tokens {
		if t == 0 {
			return false
		}
	}
	return true
}

func equalTokens(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fill encodes a complete result and stores it for its TTL plus the rule's stale windows. It returns
// the encoding and whether it stored it; the encoding is nil when the result cannot be reproduced
// exactly or is over max_bytes (it is then neither stored nor shared).
func (e *engine) fill(ctx context.Context, p *plan, req *fillReq, ent *codec.Entry) ([]byte, bool) {
	ent.Key = codec.KeyTag(req.key)
	b, err := codec.Encode(nil, ent)
	if err != nil {
		e.skipFill(ctx, p, "value not encodable")
		return nil, false
	}
	if max := p.rule.MaxBytes; max > 0 && len(b) > max {
		e.skipFill(ctx, p, "result over max_bytes")
		return nil, false
	}
	if req.noStore || !allSet(req.tokens) {
		return b, false // shared with the flight's callers only: nothing recorded to check it against
	}
	if len(ent.Rows) == 0 && p.rule.SkipEmpty {
		e.skipFill(ctx, p, "empty result")
		return b, false
	}
	var fields []string
	if req.guard != "" {
		if len(ent.Rows) != 1 {
			e.skipFill(ctx, p, "key matched several rows")
			return b, false
		}
		if fields, err = codec.EncodeRow(ent); err != nil {
			e.skipFill(ctx, p, "value not encodable")
			return b, false
		}
	}
	// The fill outlives a caller that has gone away: the rows were read in full, storing them is cheap.
	sctx, cancel := e.storeCtx(context.WithoutCancel(ctx))
	sttl := storeTTL(p.rule, req.ttl)
	index, indexTTL := e.ruleIndex(p.rule, sttl)
	stored, n := true, len(b)
	if req.guard == "" {
		err = e.st.SetIndexed(sctx, req.key, b, sttl, index, indexTTL)
	} else {
		stored, n, err = e.storeRow(sctx, req, fields, sttl, index, indexTTL)
	}
	cancel()
	if err != nil {
		e.storeFailed(ctx, "set", err)
		return b, false
	}
	e.storeOK()
	if !stored {
		// The row was written (and its token replaced) since this fill read its tokens: the writer's
		// own fill, or the next read, stores the newer image.
		e.skipFill(ctx, p, "row written meanwhile")
		return b, false
	}
	e.filled(ctx, p, n)
	return b, true
}
