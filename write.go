package cachedsql

import (
	"context"
	"database/sql/driver"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
	"github.com/cachedsql/cachedsql/strategies"
)

// The write path (DESIGN.md, "Write path"), with row-level precision and write-through.
//
// What a write does to the cache is learnt when the statement runs, while its arguments are at hand,
// and applied once the write is complete: at once in autocommit, after Commit in a transaction. Which
// generation tokens a write replaces depends on the statement and its arguments, and on the key column
// sets that row rules use for the table written; those come from this process's rules and from the
// registry in the store, which the replacement reads in the same round trip, so that processes with
// other rules (during a deployment, say) are told of writes to the rows they cache.

// Bounds on write-through: the rows one write (or transaction) re-reads, and the tokens a transaction
// collects before its writes are treated as table-level ones.
const (
	maxWriteThroughRows = 100
	maxTxKeys           = 10000
)

// writeEffect is what one write, or the writes of one transaction, do to the cache.
type writeEffect struct {
	// keys are the generation tokens to replace (with duplicates).
	keys []string
	// all: the epoch is among keys (DDL, or tables unknown), and tables is nil.
	all bool
	// schema: the write may have changed the schema (DDL, DO, CALL): the catalog must be read again.
	schema bool
	tables []string
	// regs are the written tables whose key registries the replacement reads.
	regs []regCheck
	// through are the row entries to re-read after the write (write-through).
	through []throughRow
}

// regCheck is a written table whose row entries may be keyed by column sets this process does not
// know: the registry tells which, and the write's pins say which tokens of theirs to replace.
type regCheck struct {
	table string
	pins  *keying.Pins // nil: not pinned to rows
	vals  [][]any      // the pinned values, per row, in pins.Columns order
	known []string     // key sets whose tokens are already in the effect
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
			eff = &writeEffect{keys: []string{e.layout.Epoch()}, all: true}
		}
	}()
	if e.opts.test.analysis != nil {
		e.opts.test.analysis("effect", p.st.Query)
	}
	if p.writeTables == nil {
		schema := p.st.Kind == keying.KindDDL || p.st.Kind == keying.KindOther && !strings.HasPrefix(p.st.Normalized, "explain")
		return &writeEffect{keys: slices.Clone(p.writeKeys), all: true, schema: schema}
	}
	eff = &writeEffect{tables: slices.Clone(p.writeTables), keys: slices.Clone(p.writeKeys)}
	var pins *keying.Pins
	var vals [][]any
	if pp := p.st.Pins(); pp != nil && len(p.writeTables) == 1 {
		if v, ok := strategies.ResolvePins(pp, args); ok {
			pins, vals = pp, v
		}
	}
	for _, t := range p.writeTables {
		if pins != nil && pins.Creates {
			// Only new rows: no row entry holds them (a row rule never caches a missing row).
			e.throughRows(eff, t, pins, vals)
			continue
		}
		eff.pinTable(e, t, pins, vals)
		if pins != nil {
			e.throughRows(eff, t, pins, vals)
		}
	}
	for _, t := range p.alsoWrites { // changed through foreign-key actions or triggers: every row
		if !slices.Contains(eff.tables, t) {
			eff.tables = append(eff.tables, t)
		}
		eff.pinTable(e, t, nil, nil)
	}
	return eff
}

// pinTable adds the row-entry tokens of table t that a write pinned by pins (nil: not pinned) replaces,
// for every key set this process knows, and asks for the table's registry.
func (eff *writeEffect) pinTable(e *engine, t string, pins *keying.Pins, vals [][]any) {
	rc := regCheck{table: t, pins: pins, vals: vals}
	for _, ks := range e.keySets(t) {
		eff.keys = append(eff.keys, strategies.RowTokens(e.layout, t, ks, pins, vals)...)
		rc.known = append(rc.known, keying.KeysetName(ks))
	}
	eff.regs = append(eff.regs, rc)
}

// throughRows adds the row entries of write-through row rules on table t that a write pinned by pins
// lets this process re-read, up to maxWriteThroughRows.
func (e *engine) throughRows(eff *writeEffect, t string, pins *keying.Pins, vals [][]any) {
	for _, rp := range e.ruleSet().wt.rows[t] {
		rows, ok := rp.row.throughArgs(pins, vals)
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

// merge adds o, a later write of the same transaction, to eff. Past maxTxKeys tokens the row-level
// precision is dropped: every written table is invalidated whole, and nothing is written through.
func (e *engine) merge(eff, o *writeEffect) *writeEffect {
	if o == nil {
		return eff
	}
	if eff == nil {
		return o
	}
	eff.keys = append(eff.keys, o.keys...)
	eff.all = eff.all || o.all
	eff.schema = eff.schema || o.schema
	if !eff.all {
		for _, t := range o.tables {
			if !slices.Contains(eff.tables, t) {
				eff.tables = append(eff.tables, t)
			}
		}
	} else {
		eff.tables = nil
	}
	eff.regs = append(eff.regs, o.regs...)
	eff.through = append(eff.through, o.through...)
	if len(eff.through) > maxWriteThroughRows {
		eff.through = eff.through[:maxWriteThroughRows]
	}
	if len(eff.keys) > maxTxKeys {
		eff = e.coarse(eff)
	}
	return eff
}

// coarse returns eff with row-level precision dropped: whole tables.
func (e *engine) coarse(eff *writeEffect) *writeEffect {
	if eff.all {
		return &writeEffect{keys: []string{e.layout.Epoch()}, all: true, schema: eff.schema}
	}
	out := &writeEffect{tables: eff.tables}
	for _, t := range eff.tables {
		out.keys = append(out.keys, e.layout.Token(t))
		out.pinTable(e, t, nil, nil)
	}
	return out
}

// apply replaces the tokens of a complete write, before the write returns to its caller, then writes
// through on conn (nil: no write-through). cause describes the write for the log and the observer.
// It tries whatever the read path's breaker says, bounded by InvalidateTimeout. If the store cannot
// take the tokens they are queued for the deliverer (deliver.go): this process bypasses the cache for
// them until they are delivered.
func (e *engine) apply(ctx context.Context, conn driver.Conn, eff *writeEffect, cause string) {
	if eff == nil || len(eff.keys) == 0 {
		return
	}
	if eff.schema {
		e.cat.stale()
	}
	keys := dedupe(eff.keys)
	rows := e.rowCount(keys)
	e.observeInvalidate(ctx, cause, eff.tables, rows)
	if e.pending.Down() {
		// The store could not be reached at the last attempt: the deliverer's retries stand for this
		// write's own round trip, which would only wait for the same failure.
		e.queue(e.pendingKeys(keys, eff))
		return
	}
	// One registry read per table, whatever the number of writes to it in a transaction.
	var sets []string
	setOf := make(map[string]int, len(eff.regs))
	for _, rc := range eff.regs {
		if _, ok := setOf[rc.table]; !ok {
			setOf[rc.table] = len(sets)
			sets = append(sets, e.layout.Keysets(rc.table))
		}
	}
	// The rows written through record tokens read after the replacement and before their query: read
	// them in the same round trip.
	var reads []string
	if conn != nil {
		for i := range eff.through {
			tr := &eff.through[i]
			if tr.req = e.throughReq(tr.p, tr.args); tr.req != nil {
				reads = append(reads, tr.req.TokenKeys...)
			}
		}
	}
	// The write has happened: replace the tokens even if the caller's context has been cancelled.
	sctx, cancel := e.invalidateCtx(ctx)
	res, err := e.st.BumpAndRead(sctx, keys, e.layout.Log(), e.logEntry(cause, eff.tables, rows),
		store.BumpRead{Sets: sets, Tokens: reads, Counter: e.generationKey()})
	cancel()
	if err != nil {
		e.deliveryFailed(ctx, "bump", err)
		e.queue(e.pendingKeys(keys, eff))
		return
	}
	e.StoreOK()
	e.watch.seen(res.Counter)
	e.stats.invalidations.Add(uint64(len(keys)))
	if len(res.Tokens) == len(reads) {
		off := 0
		for _, tr := range eff.through {
			if tr.req != nil {
				off += copy(tr.req.Tokens, res.Tokens[off:])
			}
		}
	}
	if more := e.registered(eff, res.Members, setOf); len(more) > 0 {
		sctx, cancel := e.invalidateCtx(ctx)
		err := e.st.Bump(sctx, more)
		cancel()
		if err != nil {
			e.deliveryFailed(ctx, "bump", err)
			e.queue(more)
			return
		}
		e.stats.invalidations.Add(uint64(len(more)))
	}
	if conn != nil {
		e.writeThrough(ctx, conn, eff)
	}
}

// pendingKeys are the tokens kept pending after a failed replacement. A write whose tables' registries
// could not be read may have row entries keyed by sets this process does not know: a marker per table
// stands for them, which delivery expands by reading the registry (expandPending).
func (e *engine) pendingKeys(keys []string, eff *writeEffect) []string {
	if eff.all {
		return keys
	}
	for _, rc := range eff.regs {
		keys = append(keys, pendingRowsMarker+rc.table)
	}
	return keys
}

// pendingRowsMarker starts a pending "key" that stands for the keyed tokens of every key set registered
// for a table. No store key starts with it.
const pendingRowsMarker = "\x00rows of "

// registered returns the tokens to replace for the key sets the registries list (members[setOf[table]])
// and the effect did not know, and learns those sets.
func (e *engine) registered(eff *writeEffect, members [][]string, setOf map[string]int) []string {
	var more []string
	for _, rc := range eff.regs {
		i, ok := setOf[rc.table]
		if !ok || i >= len(members) {
			continue
		}
		for _, m := range members[i] {
			if slices.Contains(rc.known, m) {
				continue
			}
			cols, ok := keying.ParseKeysetName(m)
			if !ok {
				e.log.Warn("cachedsql: ignoring a malformed key set in the store's registry", "table", rc.table, "member", m)
				continue
			}
			e.learnKeySet(rc.table, cols)
			more = append(more, strategies.RowTokens(e.layout, rc.table, cols, rc.pins, rc.vals)...)
		}
	}
	return dedupe(more)
}

func dedupe(keys []string) []string {
	if len(keys) < 2 {
		return keys
	}
	seen := make(map[string]struct{}, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// writeThroughs holds what write-through needs from the rules: the plans of write-through row rules by
// table, and the write-through result-set rules.
type writeThroughs struct {
	rows map[string][]*plan
	sets []*Rule
}

// keySetState holds the key column sets of row entries per table learnt from the store's registries
// (those of this process's rules are its rule set's). Tables are named as keying names them (lower-cased,
// unquoted), like the write-through rules of writeThroughs.
type keySetState struct {
	mu sync.Mutex
	// learnt maps a table to the sets learnt for it, replaced (never changed) on update.
	learnt map[string][][]string
}

// keySets returns the key column sets of table t's row entries known to this process.
func (e *engine) keySets(t string) [][]string {
	own := e.ruleSet().own[t]
	e.ks.mu.Lock()
	learnt := e.ks.learnt[t]
	e.ks.mu.Unlock()
	if len(learnt) == 0 {
		return own
	}
	return append(slices.Clip(own), learnt...)
}

// learnKeySet remembers a key set found in a registry, so that later writes replace its tokens in their
// first round trip.
func (e *engine) learnKeySet(t string, cols []string) {
	e.ks.mu.Lock()
	defer e.ks.mu.Unlock()
	has := func(ks []string) bool { return slices.Equal(ks, cols) }
	if slices.ContainsFunc(e.ruleSet().own[t], has) || slices.ContainsFunc(e.ks.learnt[t], has) {
		return
	}
	next := append(slices.Clip(e.ks.learnt[t]), cols)
	e.ks.learnt[t] = next
}

// invalidateTables replaces the tokens of tables (nil: the epoch), as an unpinned write to them does.
func (e *engine) invalidateTables(ctx context.Context, tables []string, cause string) {
	if len(tables) == 0 {
		e.apply(ctx, nil, &writeEffect{keys: []string{e.layout.Epoch()}, all: true}, cause)
		return
	}
	eff := &writeEffect{tables: tables}
	for _, t := range tables {
		eff.keys = append(eff.keys, e.layout.Token(t))
		eff.pinTable(e, t, nil, nil)
	}
	e.apply(ctx, nil, eff, cause)
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
	top, err := e.st.TopHot(sctx, e.hotSetKey(r.Name), r.WriteThroughLimit)
	cancel()
	if err != nil {
		e.StoreFailed(ctx, "top hot", err)
		return
	}
	for _, m := range top {
		v, ok := e.bg.hot.Load(m.Member)
		if !ok {
			continue
		}
		hk := v.(*hotKey)
		if hk.p.rule != r || !eff.all && !slices.ContainsFunc(hk.p.st.Reads, func(t string) bool { return slices.Contains(eff.tables, t) }) {
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
