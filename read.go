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
	key := e.entries.Entry(p.st, h)
	tp := tokenPool.Get().(*[]uint64)
	if cap(*tp) < len(p.readKeys) {
		*tp = make([]uint64, len(p.readKeys))
	}
	tokens := (*tp)[:len(p.readKeys)]
	clear(tokens)
	if !ctl.refresh {
		if rows, ok, err := e.lookup(ctx, p, key, tokens); err != nil {
			tokenPool.Put(tp)
			return e.storeFailedRead(ctx, p, next, err)
		} else if ok {
			tokenPool.Put(tp) // a hit does not keep its tokens; a miss records them in the entry
			return rows, nil
		}
	}
	if !allSet(tokens) {
		sctx, cancel := e.storeCtx(ctx)
		err := e.st.EnsureTokens(sctx, p.readKeys, tokens)
		cancel()
		if err != nil {
			return e.storeFailedRead(ctx, p, next, err)
		}
		e.health.ok()
	}
	e.miss(ctx, p)
	start := e.now()
	rows, err := next(ctx)
	if err != nil {
		return nil, err
	}
	ttl := p.rule.TTL
	if ctl.ttl > 0 {
		ttl = ctl.ttl
	}
	return newRecorder(ctx, e, p, key, tokens, rows, start, ttl), nil
}

// tokenPool recycles the token buffers of hits.
var tokenPool = sync.Pool{New: func() any { s := make([]uint64, 0, 8); return &s }}

// lookup fetches the entry and the tokens. ok reports a valid hit, served by rows.
func (e *engine) lookup(ctx context.Context, p *plan, key string, tokens []uint64) (rows driver.Rows, ok bool, err error) {
	sctx, cancel := e.storeCtx(ctx)
	b, err := e.st.Fetch(sctx, key, p.readKeys, tokens)
	cancel()
	if err != nil {
		return nil, false, err
	}
	e.health.ok()
	if b == nil {
		return nil, false, nil
	}
	// Decoding before the token check costs a wasted decode only on an entry a write has made stale.
	ent, err := codec.Decode(b)
	if err != nil {
		e.corrupt(ctx, key, err)
		return nil, false, nil
	}
	if !e.opts.testSkipTokenCheck && (!allSet(tokens) || !equalTokens(ent.Tokens, tokens)) {
		return nil, false, nil // written since it was filled: a miss
	}
	e.hit(ctx, p)
	return wrap.WrapRows(newCachedRows(ent), wrap.RowsMask(ent.Flags)), true, nil
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

// fill stores a complete result set recorded on a miss.
func (e *engine) fill(ctx context.Context, p *plan, key string, ent *codec.Entry, ttl time.Duration) {
	if len(ent.Rows) == 0 && p.rule.SkipEmpty {
		e.skipFill(ctx, p, "empty result")
		return
	}
	b, err := codec.Encode(nil, ent)
	if err != nil {
		e.skipFill(ctx, p, "value not encodable")
		return
	}
	if max := p.rule.MaxBytes; max > 0 && len(b) > max {
		e.skipFill(ctx, p, "result over max_bytes")
		return
	}
	// The fill outlives a caller that has gone away: the rows were read in full, storing them is cheap.
	sctx, cancel := e.storeCtx(context.WithoutCancel(ctx))
	err = e.st.Set(sctx, key, b, ttl)
	cancel()
	if err != nil {
		e.storeFailed(ctx, "set", err)
		return
	}
	e.health.ok()
	e.filled(ctx, p, len(b))
}
