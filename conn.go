package cachedsql

import (
	"context"
	"database/sql/driver"
	"slices"

	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/keying"
)

// connState is the per-connection state of the cache. database/sql uses a driver connection from one
// goroutine at a time, so it needs no lock.
type connState struct {
	// inTx is set from BeginTx (or a BEGIN statement) until Commit or Rollback.
	inTx bool
	// tx is what the writes of the open transaction do to the cache, applied after it commits.
	tx *writeEffect
	// dirty is set while the session differs from the state every connection of the pool starts in, in a
	// way that can change a read's result (SET search_path, set_config, DO, CALL, temp tables, PRAGMA
	// case_sensitive_like …): the results of this connection may differ from another's, so its reads
	// bypass the cache until the change is undone (RESET, SET … TO DEFAULT, RESET ALL, DISCARD ALL).
	dirty bool
	// session is what differs; dirty is session.changed().
	session sessionState
	// id is the identity and session the connection reported when it opened (identity.go).
	id *connIdentity
}

// sessionState is what statements changed in a connection's session, relative to the state every new
// connection of the pool starts in. Settings that change no read's result are never recorded (keying
// leaves them out of Statement.Session).
type sessionState struct {
	settings map[string]bool // settings set (keying.SessionChange.Setting)
	unknown  bool            // changed in ways the text does not show: only DISCARD ALL undoes them
}

// apply records the session changes of one statement. Resets count only when resets is set: the
// statement succeeded outside a transaction. A failed reset changed nothing, and one inside a
// transaction is undone if the transaction, or a savepoint, rolls back; the session then stays marked,
// which costs only bypassed reads.
func (s *sessionState) apply(changes []keying.SessionChange, resets bool) {
	for _, c := range changes {
		switch c.Op {
		case keying.SessionSet:
			if s.settings == nil {
				s.settings = make(map[string]bool)
			}
			s.settings[c.Setting] = true
		case keying.SessionLocal:
			// Reverts when the transaction ends, and reads inside a transaction bypass the cache anyway.
		case keying.SessionReset:
			if resets {
				delete(s.settings, c.Setting)
			}
		case keying.SessionResetAll:
			if resets {
				for k := range s.settings {
					// PostgreSQL's RESET ALL leaves the role, the session user and temporary objects alone.
					if k != "role" && k != "session_authorization" && k != "temp" {
						delete(s.settings, k)
					}
				}
			}
		case keying.SessionDiscardAll:
			if resets {
				clear(s.settings)
				s.unknown = false
			}
		default: // keying.SessionUnknown, and any change this version does not know
			s.unknown = true
		}
	}
}

// changed reports that the session differs from the pool's baseline in a way that can change a read.
func (s *sessionState) changed() bool { return s.unknown || len(s.settings) > 0 }

// changeSession records the session changes of p's statement, which ended with err (nil for a read
// about to run).
func (cs *connState) changeSession(p *plan, err error) {
	if p.session {
		// A call of a volatile user-defined function (catalog.go) may have changed anything.
		cs.session.unknown = true
	}
	if len(p.st.Session) > 0 {
		cs.session.apply(p.st.Session, err == nil && !cs.inTx)
	}
	cs.dirty = cs.session.changed()
}

func stateOf(c *wrap.Conn) *connState { return c.State.(*connState) }

var _ wrap.Interceptor = (*engine)(nil)

// Query routes a query: a cacheable read through the read path, anything else to the database, and a
// write that arrives through Query (INSERT … RETURNING, writable CTEs) through the write path when its
// rows are closed, since an autocommit statement is complete only then.
func (e *engine) Query(ctx context.Context, c *wrap.Conn, query string, args []driver.NamedValue, next wrap.QueryFunc) (driver.Rows, error) {
	cs := stateOf(c)
	e.ensureCatalog(ctx, c)
	p := e.plans.get(query)
	if p.st.Kind == keying.KindRead && len(p.writeKeys) == 0 { // a read that may write (a volatile function) takes the write path
		cs.changeSession(p, nil) // SELECT set_config(…): never cacheable, and later reads differ
		return e.routeRead(ctx, cs, p, args, next)
	}
	if p.reason == BypassAnalysisFailed || p.st.Kind == keying.KindRead && p.reason != bypassNone {
		// It may have been a read (its analysis failed), or it is one that takes the write path: count
		// it as a read that went to the database.
		e.bypass(ctx, p, p.reason)
	}
	rows, err := next(ctx)
	if err == driver.ErrSkip {
		return rows, err
	}
	eff := e.effectOf(p, args) // now: the caller may reuse its arguments once Query returns
	if err != nil {
		e.afterStatement(ctx, c, p, eff, err)
		return nil, err
	}
	return wrapAfterClose(rows, func() { e.afterStatement(ctx, c, p, eff, nil) }), nil
}

// Exec runs a statement on the database and then applies its effect on the cache.
func (e *engine) Exec(ctx context.Context, c *wrap.Conn, query string, args []driver.NamedValue, next wrap.ExecFunc) (driver.Result, error) {
	e.ensureCatalog(ctx, c)
	p := e.plans.get(query)
	res, err := next(ctx)
	if err == driver.ErrSkip {
		// database/sql will prepare the statement; it comes back through the statement path.
		return res, err
	}
	e.afterStatement(ctx, c, p, e.effectOf(p, args), err)
	return res, err
}

// Begin starts a transaction: reads inside it go to the database, and the tables it writes are
// invalidated after it commits.
func (e *engine) Begin(ctx context.Context, c *wrap.Conn, opts driver.TxOptions, next wrap.BeginFunc) (driver.Tx, error) {
	e.ensureCatalog(ctx, c) // not inside the transaction, whose writes are planned with it
	tx, err := next(ctx)
	if err != nil {
		return nil, err
	}
	cs := stateOf(c)
	cs.inTx = true
	return &cachingTx{parent: tx, e: e, c: c, ctx: ctx}, nil
}

// routeRead decides whether a read may use the cache.
func (e *engine) routeRead(ctx context.Context, cs *connState, p *plan, args []driver.NamedValue, next wrap.QueryFunc) (driver.Rows, error) {
	ctl := controlFrom(ctx)
	reason := p.reason
	switch {
	case reason != bypassNone:
	case ctl.bypass:
		reason = BypassContext
	case cs.inTx:
		reason = BypassTransaction
	case cs.dirty:
		reason = BypassSessionChanged
	case cs.id.mode != modeSame:
		reason = cs.id.bypass()
	}
	if reason != bypassNone {
		return e.bypassRead(ctx, p, reason, next)
	}
	return e.read(ctx, p, args, ctl, next)
}

// afterStatement applies what a statement that is not a cached read did, once it has completed. eff is
// what the statement writes (nil: nothing). err is the statement's error: a failed write still
// invalidates, since its outcome may be unknown, but it writes nothing through.
func (e *engine) afterStatement(ctx context.Context, c *wrap.Conn, p *plan, eff *writeEffect, err error) {
	cs := stateOf(c)
	cs.changeSession(p, err)
	switch p.st.Kind {
	case keying.KindSavepoint, keying.KindSession:
	case keying.KindBegin:
		if err == nil && !cs.inTx {
			cs.inTx = true
		}
	case keying.KindCommit:
		e.endTx(ctx, c, true)
	case keying.KindRollback:
		e.endTx(ctx, c, false)
	default:
		eff = cs.id.writeEffect(e, eff)
		if eff != nil {
			// From now on this process beats in the watch (strategies.Watch): it writes.
			e.watch.Wrote()
		}
		if eff != nil && err != nil {
			eff.through = nil
		}
		if !cs.inTx {
			e.apply(ctx, e.throughConn(c), eff, p.st.Query)
			return
		}
		cs.tx = e.merge(cs.tx, eff)
	}
}

// throughConn returns the parent connection write-through may use, or nil when the connection's session
// was changed (its reads are not cacheable).
func (e *engine) throughConn(c *wrap.Conn) driver.Conn {
	if cs := stateOf(c); cs.dirty || cs.id.mode != modeSame {
		return nil
	}
	return c.Parent()
}

// endTx closes the connection's transaction. After a commit (successful or not: its outcome may be
// unknown) the writes' tokens are replaced; after a rollback they are dropped.
func (e *engine) endTx(ctx context.Context, c *wrap.Conn, commit bool) {
	cs := stateOf(c)
	eff := cs.tx
	cs.inTx, cs.tx = false, nil
	if !commit {
		return
	}
	if eff != nil && !eff.All {
		eff.Tables = slices.Sorted(slices.Values(eff.Tables))
	}
	e.apply(ctx, e.throughConn(c), eff, "COMMIT")
}

// cachingTx replaces generation tokens after the parent transaction commits.
type cachingTx struct {
	parent driver.Tx
	e      *engine
	c      *wrap.Conn
	// ctx is the context of BeginTx, kept (as database/sql keeps it) only for the observer and the
	// invalidation after Commit; the invalidation itself ignores its cancellation.
	ctx context.Context
}

func (t *cachingTx) Commit() error {
	err := t.parent.Commit()
	if err != nil && t.e != nil {
		if eff := stateOf(t.c).tx; eff != nil {
			eff.through = nil // the outcome is unknown: invalidate only
		}
	}
	t.e.endTx(t.ctx, t.c, true)
	return err
}

func (t *cachingTx) Rollback() error {
	err := t.parent.Rollback()
	t.e.endTx(t.ctx, t.c, false)
	return err
}
