package cachedsql

import (
	"context"
	"database/sql/driver"
	"slices"
	"time"

	"github.com/cachedsql/cachedsql/strategies"
)

// The write path (DESIGN.md, "Write path"), with row-level precision and write-through, as the engine
// sees it: which tokens a write replaces, and their replacement and delivery, are
// strategies.Invalidation's; this file hands it each write's plan, and re-reads what write-through
// rules store again.
//
// What a write does to the cache is learnt when the statement runs, while its arguments are at hand,
// and applied once the write is complete: at once in autocommit, after Commit in a transaction.

// maxWriteThroughRows bounds the rows one write (or transaction) re-reads for write-through.
const maxWriteThroughRows = 100

// writeEffect is what one write, or the writes of one transaction, do to the cache: the tokens they
// replace (strategies.Invalidation computes and applies them), and the row entries write-through
// re-reads after them.
type writeEffect struct {
	strategies.Effect
	through []throughRow
}

// throughRow is one row entry a write-through re-reads: the row rule's plan and its arguments, and the
// fill being prepared (set by apply).
type throughRow struct {
	p    *plan
	args []driver.NamedValue
	req  *strategies.Request
}

// effectOf returns what the write p, run with args, does to the cache; nil for a statement that writes
// nothing.
//
// Finding the rows a write is pinned to analyses its arguments; if that panics (a defect of this
// package), the write replaces the epoch instead, as a write of unknown tables does.
func (e *engine) effectOf(p *plan, args []driver.NamedValue) (eff *writeEffect) {
	if len(p.writeKeys) == 0 {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			e.analysisFailed("effect", r)
			eff = &writeEffect{Effect: *e.inval.Everything()}
		}
	}()
	if e.opts.test.analysis != nil {
		e.opts.test.analysis("effect", p.st.Query)
	}
	inv, pin := e.inval.EffectOf(strategies.Write{Statement: p.st, Keys: p.writeKeys, Tables: p.writeTables, Also: p.alsoWrites}, args)
	eff = &writeEffect{Effect: *inv}
	if pin.Pins != nil {
		e.throughRows(eff, pin)
	}
	return eff
}

// throughRows adds the row entries of write-through row rules on the table a write is pinned to that
// it lets this process re-read, up to maxWriteThroughRows.
func (e *engine) throughRows(eff *writeEffect, pin strategies.Pinned) {
	for _, rp := range e.ruleSet().wt.rows[pin.Table] {
		rows, ok := rp.row.throughArgs(pin.Pins, pin.Vals)
		if !ok {
			continue // the rule's statement takes a value the write does not give
		}
		for _, args := range rows {
			if len(eff.through) >= maxWriteThroughRows {
				return
			}
			eff.through = append(eff.through, throughRow{p: rp, args: args})
		}
	}
}

// merge adds o, a later write of the same transaction, to eff. Past a bound on tokens the row-level
// precision is dropped (strategies.Invalidation.Merge): nothing is then written through.
func (e *engine) merge(eff, o *writeEffect) *writeEffect {
	if o == nil {
		return eff
	}
	if eff == nil {
		return o
	}
	eff.through = append(eff.through, o.through...)
	if len(eff.through) > maxWriteThroughRows {
		eff.through = eff.through[:maxWriteThroughRows]
	}
	if e.inval.Merge(&eff.Effect, &o.Effect) {
		eff.through = nil
	}
	return eff
}

// apply completes a write: it replaces the write's tokens before the write returns to its caller
// (strategies.Invalidation.Apply: one round trip, which also reads the tokens the write-through fills
// record), then writes through on conn (nil: no write-through). cause describes the write for the log
// and the observer.
func (e *engine) apply(ctx context.Context, conn driver.Conn, eff *writeEffect, cause string) {
	if eff == nil || len(eff.Keys) == 0 {
		return
	}
	if eff.Schema {
		e.cat.stale()
	}
	var reads []*strategies.Request
	if conn != nil {
		for i := range eff.through {
			tr := &eff.through[i]
			if tr.req = e.throughReq(tr.p, tr.args); tr.req != nil {
				reads = append(reads, tr.req)
			}
		}
	}
	if e.inval.Apply(ctx, &eff.Effect, cause, reads) && conn != nil {
		e.writeThrough(ctx, conn, eff)
	}
}

// The engine hears what strategies.Invalidation does (strategies.WriteEvents; Invalidating is in
// observe.go, LogEntry in invalidation_log.go).

// Replaced counts tokens replaced.
func (e *engine) Replaced(n int) { e.stats.invalidations.Add(uint64(n)) }

// DeliveryFailed counts and observes a failed replacement of tokens. It does not feed the read path's
// breaker: reads learn of an outage through their own calls.
func (e *engine) DeliveryFailed(ctx context.Context, op string, err error) {
	e.stats.storeErrors.Add(1)
	e.observeStoreError(ctx, op, err)
}

// Generation raises the highest write generation the watch has seen to n.
func (e *engine) Generation(n uint64) { e.watch.Seen(n) }

// invalidateTables replaces the tokens of tables (nil: the epoch), as an unpinned write to them does.
func (e *engine) invalidateTables(ctx context.Context, tables []string, cause string) {
	e.inval.Apply(ctx, e.inval.TablesEffect(tables), cause, nil)
}

// writeThroughs holds what write-through needs from the rules: the plans of write-through row rules by
// table, and the write-through result-set rules.
type writeThroughs struct {
	rows map[string][]*plan
	sets []*Rule
}

// writeThrough re-reads on conn the row entries a write pinned, and recomputes the hottest entries of
// write-through result-set rules that read a written table.
func (e *engine) writeThrough(ctx context.Context, conn driver.Conn, eff *writeEffect) {
	for _, t := range eff.through {
		e.refill(ctx, conn, t.p, t.args, t.req)
	}
	for _, r := range e.ruleSet().wt.sets {
		e.recomputeHot(ctx, conn, r, eff)
	}
}

// recomputeHot recomputes the entries of r that its hot set ranks highest (at most r.WriteThroughLimit)
// and that this process can reproduce (it has served them, so it knows their arguments), when they read
// a table eff wrote.
func (e *engine) recomputeHot(ctx context.Context, conn driver.Conn, r *Rule, eff *writeEffect) {
	sctx, cancel := e.storeCtx(ctx)
	top, err := e.st.TopHot(sctx, e.layout.Hot(r.Name), r.WriteThroughLimit)
	cancel()
	if err != nil {
		e.StoreFailed(ctx, "top hot", err)
		return
	}
	for _, m := range top {
		hk, ok := e.bg.Hot(m.Member)
		if !ok {
			continue
		}
		if hk.p.rule != r || !eff.All && !slices.ContainsFunc(hk.p.st.Reads, func(t string) bool { return slices.Contains(eff.Tables, t) }) {
			continue
		}
		e.refill(ctx, conn, hk.p, hk.nargs, e.throughReq(hk.p, hk.nargs))
	}
}

// throughReq prepares a write-through fill of p with args: the entry's key and the tokens it records,
// whose values are read later. It returns nil when p's result cannot be cached with these arguments.
func (e *engine) throughReq(p *plan, args []driver.NamedValue) *strategies.Request {
	if p.rule == nil {
		return nil
	}
	h, why := e.hashArgs(p, args)
	if why != bypassNone {
		return nil
	}
	req := &strategies.Request{Policy: &p.rule.policy, Subject: p, TTL: p.rule.TTL, Args: args, Delta: &p.delta,
		Start: time.Now(), Force: true, Background: true, NoLease: true}
	if p.row == nil {
		req.Key, req.TokenKeys = e.entries.Entry(p.st, h), p.readKeys
	} else if e.rowTarget(p, args, h, req) != bypassNone {
		return nil
	}
	req.Tokens = make([]uint64, len(req.TokenKeys))
	return req
}

// refill runs p with args on conn and stores the result under p's rule, as a refresh does, but on its
// own (strategies.CacheAside.Refill): it neither joins a load in flight nor takes a lease. req (from
// throughReq) holds the tokens read after the write, or zeros to read them now. The row entry it stores
// is guarded by the row's token, so of two concurrent write-throughs of one row the one that read the
// later token (and so ran after the later write) is the one that remains.
func (e *engine) refill(ctx context.Context, conn driver.Conn, p *plan, args []driver.NamedValue, req *strategies.Request) {
	if req == nil {
		return
	}
	next := func(ctx context.Context) (driver.Rows, error) { return queryConn(ctx, conn, p.st.Query, args) }
	stored, err := e.aside.Refill(ctx, req, next)
	switch {
	case err != nil:
		e.stats.writeThroughFailures.Add(1)
		e.log.DebugContext(ctx, "cachedsql: write-through read failed; the entry stays invalidated", "err", err)
	case stored:
		e.stats.writeThroughs.Add(1)
	}
}

// queryConn runs query on a parent connection, outside database/sql (which holds the connection for the
// write being completed).
func queryConn(ctx context.Context, conn driver.Conn, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := conn.(driver.QueryerContext); ok {
		rows, err := q.QueryContext(ctx, query, args)
		if err != driver.ErrSkip {
			return rows, err
		}
	}
	var st driver.Stmt
	var err error
	if pc, ok := conn.(driver.ConnPrepareContext); ok {
		st, err = pc.PrepareContext(ctx, query)
	} else {
		st, err = conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	var rows driver.Rows
	if sq, ok := st.(driver.StmtQueryContext); ok {
		rows, err = sq.QueryContext(ctx, args)
	} else {
		vals := make([]driver.Value, len(args))
		for i, a := range args {
			vals[i] = a.Value
		}
		//lint:ignore SA1019 the parent has no StmtQueryContext: the legacy method is all there is
		rows, err = st.Query(vals)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return wrapAfterClose(rows, func() { st.Close() }), nil
}
