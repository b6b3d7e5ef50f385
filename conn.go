package cachedsql

import (
	"context"
	"database/sql/driver"
	"maps"
	"slices"

	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/keying"
)

// connState is the per-connection state of the cache. database/sql uses a driver connection from one
// goroutine at a time, so it needs no lock.
type connState struct {
	// inTx is set from BeginTx (or a BEGIN statement) until Commit or Rollback.
	inTx bool
	// txKeys are the generation tokens written in the open transaction, replaced after it commits;
	// txTables names their tables, and txAll says the epoch is among them.
	txKeys   map[string]struct{}
	txTables map[string]struct{}
	txAll    bool
	// dirty is set once a statement changed the session (SET, search_path, PRAGMA …): the results of this
	// connection may differ from another's, so it bypasses the cache for good.
	dirty bool
}

func stateOf(c *wrap.Conn) *connState { return c.State.(*connState) }

var _ wrap.Interceptor = (*engine)(nil)

// Query routes a query: a cacheable read through the read path, anything else to the database, and a
// write that arrives through Query (INSERT … RETURNING, writable CTEs) through the write path when its
// rows are closed, since an autocommit statement is complete only then.
func (e *engine) Query(ctx context.Context, c *wrap.Conn, query string, args []driver.NamedValue, next wrap.QueryFunc) (driver.Rows, error) {
	cs := stateOf(c)
	p := e.plans.get(query)
	if p.st.Kind == keying.KindRead {
		if p.st.ChangesSession { // SELECT set_config(…): never cacheable, and later reads differ
			cs.dirty = true
		}
		return e.routeRead(ctx, cs, p, args, next)
	}
	rows, err := next(ctx)
	if err == driver.ErrSkip {
		return rows, err
	}
	if err != nil {
		e.afterStatement(ctx, cs, p, err)
		return nil, err
	}
	return wrapAfterClose(rows, func() { e.afterStatement(ctx, cs, p, nil) }), nil
}

// Exec runs a statement on the database and then applies its effect on the cache.
func (e *engine) Exec(ctx context.Context, c *wrap.Conn, query string, args []driver.NamedValue, next wrap.ExecFunc) (driver.Result, error) {
	cs := stateOf(c)
	p := e.plans.get(query)
	res, err := next(ctx)
	if err == driver.ErrSkip {
		// database/sql will prepare the statement; it comes back through the statement path.
		return res, err
	}
	e.afterStatement(ctx, cs, p, err)
	return res, err
}

// Begin starts a transaction: reads inside it go to the database, and the tables it writes are
// invalidated after it commits.
func (e *engine) Begin(ctx context.Context, c *wrap.Conn, opts driver.TxOptions, next wrap.BeginFunc) (driver.Tx, error) {
	tx, err := next(ctx)
	if err != nil {
		return nil, err
	}
	cs := stateOf(c)
	cs.inTx = true
	return &cachingTx{parent: tx, e: e, cs: cs, ctx: ctx}, nil
}

// routeRead decides whether a read may use the cache.
func (e *engine) routeRead(ctx context.Context, cs *connState, p *plan, args []driver.NamedValue, next wrap.QueryFunc) (driver.Rows, error) {
	ctl := controlFrom(ctx)
	reason := p.reason
	switch {
	case reason != bypassNone:
	case ctl.bypass:
		reason = bypassContext
	case cs.inTx:
		reason = bypassTransaction
	case cs.dirty:
		reason = bypassSession
	}
	if reason != bypassNone {
		e.bypass(ctx, p, reason)
		return next(ctx)
	}
	return e.read(ctx, p, args, ctl, next)
}

// afterStatement applies what a statement that is not a cached read did, once it has completed.
// err is the statement's error: a failed write still invalidates, since its outcome may be unknown.
func (e *engine) afterStatement(ctx context.Context, cs *connState, p *plan, err error) {
	if p.st.ChangesSession {
		cs.dirty = true
	}
	switch p.st.Kind {
	case keying.KindRead, keying.KindSavepoint, keying.KindSession:
	case keying.KindBegin:
		if err == nil && !cs.inTx {
			cs.inTx = true
		}
	case keying.KindCommit:
		e.endTx(ctx, cs, true)
	case keying.KindRollback:
		e.endTx(ctx, cs, false)
	default:
		if !cs.inTx {
			e.invalidate(ctx, p.writeKeys, p.st.Query, p.writeTables)
			return
		}
		cs.recordWrite(p)
	}
}

// recordWrite remembers the tokens a statement in the open transaction writes.
func (cs *connState) recordWrite(p *plan) {
	if cs.txKeys == nil {
		cs.txKeys = make(map[string]struct{}, len(p.writeKeys))
		cs.txTables = make(map[string]struct{}, len(p.writeTables))
	}
	for _, k := range p.writeKeys {
		cs.txKeys[k] = struct{}{}
	}
	if p.writeTables == nil {
		cs.txAll = true
	}
	for _, t := range p.writeTables {
		cs.txTables[t] = struct{}{}
	}
}

// endTx closes the connection's transaction. After a commit (successful or not: its outcome may be
// unknown) the tokens of every table written are replaced; after a rollback they are dropped.
func (e *engine) endTx(ctx context.Context, cs *connState, commit bool) {
	keys, tables, all := cs.txKeys, cs.txTables, cs.txAll
	cs.inTx, cs.txKeys, cs.txTables, cs.txAll = false, nil, nil, false
	if !commit || len(keys) == 0 {
		return
	}
	var names []string
	if !all {
		names = slices.Sorted(maps.Keys(tables))
	}
	e.invalidate(ctx, slices.Collect(maps.Keys(keys)), "COMMIT", names)
}

// cachingTx replaces generation tokens after the parent transaction commits.
type cachingTx struct {
	parent driver.Tx
	e      *engine
	cs     *connState
	// ctx is the context of BeginTx, kept (as database/sql keeps it) only for the observer and the
	// invalidation after Commit; the invalidation itself ignores its cancellation.
	ctx context.Context
}

func (t *cachingTx) Commit() error {
	err := t.parent.Commit()
	t.e.endTx(t.ctx, t.cs, true)
	return err
}

func (t *cachingTx) Rollback() error {
	err := t.parent.Rollback()
	t.e.endTx(t.ctx, t.cs, false)
	return err
}
