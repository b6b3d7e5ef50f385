package cachedsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"

	"github.com/cachedsql/cachedsql/keying"
	"github.com/cachedsql/cachedsql/strategies"
)

// Background work (strategies.Refresher decides when): revalidating entries served stale
// (stale_while_revalidate) and refreshing hot entries before they expire (refresh_ahead). A refresh is
// an ordinary read through this cache, made on a small *sql.DB of its own with WithRefresh, so it takes
// the same flight, lease and generation checks as any fill.

// hotKey is the refresher's subject: the statement and arguments of an entry it may refresh, or that
// write-through may recompute.
type hotKey struct {
	p     *plan
	args  []any
	nargs []driver.NamedValue // args as the driver got them, for write-through on a parent connection
}

// refreshDB is the *sql.DB that refreshes read through: opened on first use, closed with the cache
// (after the refresher has stopped).
type refreshDB struct {
	open func() *sql.DB // set by the Connector
	once sync.Once
	db   *sql.DB
}

func (r *refreshDB) get() *sql.DB {
	r.once.Do(func() {
		if r.open != nil {
			r.db = r.open()
			r.db.SetMaxOpenConns(strategies.MaxRefreshes) // one per refresh running
		}
	})
	return r.db
}

// close closes the refresh DB; nothing opens it afterwards.
func (r *refreshDB) close() {
	r.once.Do(func() {})
	if r.db != nil {
		r.db.Close()
	}
}

// refresh is the refresher's Run: it reads the entry of hk through the cache, storing it anew.
func (e *engine) refresh(ctx context.Context, hk *hotKey) bool {
	db := e.rdb.get()
	if db == nil {
		return false
	}
	ctx = withControl(ctx, func(c *control) { c.refresh, c.background = true, true })
	rows, err := db.QueryContext(ctx, hk.p.st.Query, hk.args...)
	if err != nil {
		return false
	}
	for rows.Next() {
	}
	if rows.Close() != nil || rows.Err() != nil {
		return false
	}
	hk.p.Stampede(ctx, strategies.Refreshed, 0)
	return true
}

// sqlArgs turns a statement's driver arguments back into database/sql arguments, copying []byte values
// (the caller may reuse them once its statement has returned).
func sqlArgs(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		v := a.Value
		if b, ok := v.([]byte); ok && b != nil {
			v = append([]byte(nil), b...)
		}
		if a.Name != "" {
			out[i] = sql.Named(a.Name, v)
		} else {
			out[i] = v
		}
	}
	return out
}

// copyArgs copies a statement's driver arguments, and their []byte values.
func copyArgs(args []driver.NamedValue) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		if b, ok := a.Value.([]byte); ok && b != nil {
			a.Value = append([]byte(nil), b...)
		}
		out[i] = a
	}
	return out
}

// touchHot counts a hit of an entry of a rule with refresh-ahead, or with write-through of result sets.
func (e *engine) touchHot(p *plan, key string, expires time.Time, delta time.Duration, args []driver.NamedValue) {
	if p.hot == nil {
		return
	}
	e.bg.Touch(key, p.hot, func() *hotKey { return &hotKey{p: p, args: sqlArgs(args), nargs: copyArgs(args)} }, expires, delta)
}

// hotPolicy returns how the entries of p, under rule r, take part in refresh-ahead; nil when they do
// not (r has neither refresh_ahead nor write-through of result sets).
func (e *engine) hotPolicy(p *plan, r *Rule) *strategies.HotPolicy {
	if !r.RefreshAhead && !(r.WriteThrough && r.row == nil) {
		return nil
	}
	return &strategies.HotPolicy{Set: e.layout.Hot(r.Name), Queries: e.layout.HotQueries(r.Name), Query: hotQuery(p.st),
		TTL: r.TTL, Ahead: r.RefreshAhead, HotHits: r.HotHits}
}

// Warm fills the cache of db, which must have been opened by this package, with the results of
// statements: each is queried on the database (as with [WithRefresh]) and its result stored under its
// rule. Statements no rule caches are run and reported as not cached. A statement that is not a read
// (an UPDATE, a read with a writable CTE or that calls a volatile function) is refused before any
// statement runs. It stops at the first error.
func Warm(ctx context.Context, db *sql.DB, stmts ...WarmStatement) (WarmReport, error) {
	var rep WarmReport
	d, ok := db.Driver().(*connectorDriver)
	if !ok {
		return rep, errNotCaching
	}
	for _, s := range stmts {
		if p := d.eng.plans.get(s.Query); p.st.Kind != keying.KindRead || len(p.writeKeys) > 0 || p.session {
			return rep, fmt.Errorf("cachedsql: Warm: not a read, not run: %q", s.Query)
		}
	}
	before, _ := StatsOf(db)
	for _, s := range stmts {
		rows, err := db.QueryContext(WithRefresh(ctx), s.Query, s.Args...)
		if err != nil {
			return rep, err
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			return rep, err
		}
		if err := rows.Err(); err != nil {
			return rep, err
		}
		rep.Statements++
	}
	after, _ := StatsOf(db)
	rep.Filled = int(after.Fills - before.Fills)
	return rep, nil
}

// WarmStatement is one statement for [Warm]: the query text and its arguments.
type WarmStatement struct {
	Query string
	Args  []any
}

// WarmReport says what [Warm] did.
type WarmReport struct {
	Statements int // statements run
	Filled     int // results stored (the others are not cached by any rule, or not storable)
}
