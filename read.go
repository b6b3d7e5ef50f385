package cachedsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"time"

	"github.com/cachedsql/cachedsql/internal/codec"
	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/keying"
)

// read is the cache-aside path of a read that a rule matched (DESIGN.md, "Read path"):
//  1. one round trip fetches the entry and the current generation token of every table it reads;
//  2. a hit is an entry whose recorded tokens all equal the current ones;
//  3. on a miss the tokens read before the query are recorded in the new entry, so a fill that raced
//     a write is tagged with old tokens and can never be served.
func (e *engine) read(ctx context.Context, p *plan, args []driver.NamedValue, ctl control, next wrap.QueryFunc) (driver.Rows, error) {
	h, err := keying.HashArgs(args)
	if err != nil {
		e.bypass(ctx, p, bypassArgs)
		return next(ctx)
	}
	if !e.health.usable(ctx, e, p.readKeys) {
		e.bypass(ctx, p, bypassStore)
		return next(ctx)
	}
	// req stays on the stack on the hit path; the miss path copies it to the heap.
	req := fillReq{key: e.entries.Entry(p.st, h), ttl: p.rule.TTL, force: ctl.refresh, bg: ctl.background}
	if ctl.ttl > 0 {
		req.ttl = ctl.ttl
	}
	tp := tokenPool.Get().(*[]uint64)
	if cap(*tp) < len(p.readKeys) {
		*tp = make([]uint64, len(p.readKeys))
	}
	req.tokens = (*tp)[:len(p.readKeys)]
	clear(req.tokens)
	if !ctl.refresh {
		ent, b, err := e.lookup(ctx, p, req.key, req.tokens)
		hook(e.opts.test.afterTokens)
		if err != nil {
			tokenPool.Put(tp)
			return e.storeFailedRead(ctx, p, next, err)
		}
		if ent != nil {
			switch e.ageOf(p.rule, ent) {
			case ageFresh:
				tokenPool.Put(tp) // a hit does not keep its tokens; a miss records them in the entry
				e.hit(ctx, p)
				e.touchHot(p, req.key, ent, args)
				return wrap.WrapRows(newCachedRows(ent), wrap.RowsMask(ent.Flags)), nil
			case ageEarly:
				e.stats.early.Add(1)
				e.observeStampede(ctx, p, EarlyRecompute, 0)
				req.current = &found{ent: ent, b: b}
			case ageRevalidate:
				tokenPool.Put(tp)
				e.refreshLater(p, req.key, args)
				return e.serveStale(ctx, p, ent, staleRevalidate), nil
			case ageStale:
				req.stale = &found{ent: ent, b: b}
			}
		}
	}
	if !allSet(req.tokens) {
		sctx, cancel := e.storeCtx(ctx)
		err := e.st.EnsureTokens(sctx, p.readKeys, req.tokens)
		cancel()
		if err != nil {
			return e.storeFailedRead(ctx, p, next, err)
		}
		e.health.ok()
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
// stored, when it is valid: decodable, and recorded with the current generation tokens (whatever its
// age).
func (e *engine) lookup(ctx context.Context, p *plan, key string, tokens []uint64) (*codec.Entry, []byte, error) {
	sctx, cancel := e.storeCtx(ctx)
	b, err := e.st.Fetch(sctx, key, p.readKeys, tokens)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	e.health.ok()
	if b == nil {
		return nil, nil, nil
	}
	// Decoding before the token check costs a wasted decode only on an entry a write has made stale.
	ent, err := codec.Decode(b)
	if err != nil {
		e.corrupt(ctx, key, err)
		return nil, nil, nil
	}
	if !e.opts.testSkipTokenCheck && (!allSet(tokens) || !equalTokens(ent.Tokens, tokens)) {
		return nil, nil, nil // written since it was filled: a miss
	}
	return ent, b, nil
}

// corrupt turns an entry that cannot be decoded into a miss, and deletes it unless it was merely written
// by another version of this package (then the fill overwrites it).
func (e *engine) corrupt(ctx context.Context, key string, err error) {
	if errors.Is(err, codec.ErrUnknownType) {
		return
	}
	e.stats.corrupt.Add(1)
	e.log.WarnContext(ctx, "cachedsql: corrupt cache entry deleted", "key", key, "err", err)
	sctx, cancel := e.storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	if err := e.st.Delete(sctx, key); err != nil {
		e.storeFailed(ctx, "delete", err)
	}
}

// storeFailedRead sends a read to the database after a store failure.
func (e *engine) storeFailedRead(ctx context.Context, p *plan, next wrap.QueryFunc, err error) (driver.Rows, error) {
	if ctx.Err() == nil {
		e.storeFailed(ctx, "fetch", err)
	}
	e.bypass(ctx, p, bypassStore)
	return next(ctx)
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
// the encoding, or nil when the result cannot be reproduced exactly or is over max_bytes (it is then
// neither stored nor shared).
func (e *engine) fill(ctx context.Context, p *plan, key string, ent *codec.Entry, ttl time.Duration) []byte {
	b, err := codec.Encode(nil, ent)
	if err != nil {
		e.skipFill(ctx, p, "value not encodable")
		return nil
	}
	if max := p.rule.MaxBytes; max > 0 && len(b) > max {
		e.skipFill(ctx, p, "result over max_bytes")
		return nil
	}
	if len(ent.Rows) == 0 && p.rule.SkipEmpty {
		e.skipFill(ctx, p, "empty result")
		return b
	}
	// The fill outlives a caller that has gone away: the rows were read in full, storing them is cheap.
	sctx, cancel := e.storeCtx(context.WithoutCancel(ctx))
	sttl := storeTTL(p.rule, ttl)
	index, indexTTL := e.ruleIndex(p.rule, sttl)
	err = e.st.SetIndexed(sctx, key, b, sttl, index, indexTTL)
	cancel()
	if err != nil {
		e.storeFailed(ctx, "set", err)
		return b
	}
	e.health.ok()
	e.filled(ctx, p, len(b))
	return b
}
