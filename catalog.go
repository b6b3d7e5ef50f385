package cachedsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/internal/wrap"
)

// The catalog: what the database knows about tables a statement does not name (DESIGN.md, promise 2).
// A write changes tables through foreign-key actions and triggers, a read of a view reads its base
// tables, and a call of a user-defined function may read or write anything. Statement analysis sees
// none of this, so each engine loads these facts from the database's own catalog, lazily, on the
// connection of the statement that finds them missing or out of date, and plans statements with them
// (planCatalog).
//
// Loading is bounded by catalogTimeout and never runs inside the application's transaction. A load that
// fails or times out leaves the catalog unknown, and plans made while it is unknown are conservative:
// reads are not cached, writes replace the epoch. The catalog is reloaded after every statement through
// the wrapper that replaces the epoch (DDL, DO, CALL, …) and, for DDL made elsewhere, once it is
// catalogMaxAge old.

// Bounds of catalog loading.
const (
	// catalogTimeout bounds one load, and a statement's wait for a load that another connection runs.
	catalogTimeout = time.Second
	// catalogMaxAge is how long a loaded catalog is used before it is read again: the window in which
	// DDL made outside the wrapper (a migration tool, psql) is not yet seen.
	catalogMaxAge = time.Minute
	// catalogRetry is how long after a failed load the next one is tried.
	catalogRetry = time.Second
)

// catalog is one load of the catalog. It is immutable once published.
type catalog struct {
	gen uint64    // catalogState.want when the load began
	at  time.Time // when it was loaded
	// none: the database is neither PostgreSQL nor SQLite; statements are planned from their text.
	none bool
	// unknown: the catalog could not be loaded (or is being reloaded): plans are conservative.
	unknown bool

	// fks maps a referenced table to the foreign-key actions that change other tables.
	fks map[string][]fkAction
	// under maps a view to the tables its query reads, and a table to its inheritance children and
	// partitions: reading the name reads them, writing it may write them.
	under map[string][]string
	// viewWhy says why reading a view cannot be cached ("calls now()"); viewCalls lists the functions a
	// view's query calls.
	viewWhy   map[string]string
	viewCalls map[string][]string
	// funcs holds the user-defined functions by name (an overloaded name takes its most volatile kind).
	funcs map[string]funcKind
	// trigWrites maps a table to the tables its triggers write; trigAll holds the tables whose triggers
	// (or PostgreSQL rules) may write tables that cannot be known.
	trigWrites map[string][]string
	trigAll    map[string]bool
	// trigCalls are the functions trigger bodies call, checked by settle.
	trigCalls []trigCall
}

// trigCall is the functions a trigger body on table calls.
type trigCall struct {
	table string
	calls []string
}

// settle completes a load: a trigger whose body calls a volatile user-defined function may write
// tables that cannot be known.
func (c *catalog) settle() *catalog {
	for _, tc := range c.trigCalls {
		for _, f := range tc.calls {
			if c.funcs[f] == funcVolatile {
				c.trigAll[tc.table] = true
			}
		}
	}
	c.trigCalls = nil
	return c
}

// fkAction is a foreign key whose actions change the referencing table: on a delete (CASCADE, SET
// NULL, SET DEFAULT) and/or on an update of the referenced rows.
type fkAction struct {
	child              string
	onDelete, onUpdate bool
}

// funcKind is what a user-defined function may do.
type funcKind uint8

const (
	// funcPure: same result for the same arguments, reads no table (PostgreSQL IMMUTABLE, SQLite
	// SQLITE_DETERMINISTIC).
	funcPure funcKind = iota
	// funcReads: may read tables (PostgreSQL STABLE; a non-deterministic SQLite application function).
	funcReads
	// funcVolatile: may write tables and change session settings (PostgreSQL VOLATILE).
	funcVolatile
)

// unknownCatalog stands for a catalog that is not loaded.
var unknownCatalog = &catalog{unknown: true}

func newCatalog() *catalog {
	return &catalog{
		fks: map[string][]fkAction{}, under: map[string][]string{}, viewWhy: map[string]string{},
		viewCalls: map[string][]string{}, funcs: map[string]funcKind{}, trigWrites: map[string][]string{},
		trigAll: map[string]bool{},
	}
}

// addFunc records a user-defined function, keeping the most volatile kind of an overloaded name.
func (c *catalog) addFunc(name string, k funcKind) {
	if old, ok := c.funcs[name]; !ok || k > old {
		c.funcs[name] = k
	}
}

// catalogState holds an engine's catalog and its loading. It is safe for concurrent use.
type catalogState struct {
	// want counts the changes of schema seen through the wrapper: a catalog loaded before the last one
	// is out of date.
	want atomic.Uint64
	cur  atomic.Pointer[catalog]

	// mu guards loading, which is closed when the load in progress ends (nil: none).
	mu      sync.Mutex
	loading chan struct{}
}

// current returns the catalog to plan with: the loaded one if it is up to date, else unknownCatalog.
func (cs *catalogState) current() *catalog {
	c := cs.cur.Load()
	switch {
	case c == nil:
		return unknownCatalog
	case c.none:
		return c
	case c.gen != cs.want.Load():
		return unknownCatalog
	}
	return c
}

// stale records a change of schema made through the wrapper: the catalog must be read again.
func (cs *catalogState) stale() { cs.want.Add(1) }

// ensureCatalog loads the catalog on c before its statement runs, when it is missing or out of date.
// Outside a transaction only: a failed catalog query would abort the application's transaction, and a
// transaction may see its own uncommitted DDL. It waits at most catalogTimeout, and never fails: a
// catalog it cannot load makes plans conservative.
func (e *engine) ensureCatalog(ctx context.Context, c *wrap.Conn) {
	cs := &e.cat
	cur := cs.cur.Load()
	now := e.now()
	want := cs.want.Load()
	if cur != nil && (cur.none || cur.gen == want && now.Sub(cur.at) < cur.maxAge()) {
		return
	}
	if cur == nil && dialectOf(c.Parent()) == dialectOther {
		cs.cur.CompareAndSwap(nil, &catalog{none: true}) // no query needed: there is nothing to load
		return
	}
	if stateOf(c).inTx || ctx.Err() != nil {
		return
	}
	cs.mu.Lock()
	if ch := cs.loading; ch != nil {
		cs.mu.Unlock()
		if cur != nil && cur.gen == want && !cur.unknown {
			return // only old: keep planning with it while another connection reloads
		}
		t := time.NewTimer(catalogTimeout)
		defer t.Stop()
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		}
		return
	}
	ch := make(chan struct{})
	cs.loading = ch
	cs.mu.Unlock()
	defer func() {
		cs.mu.Lock()
		cs.loading = nil
		cs.mu.Unlock()
		close(ch)
	}()
	cat, err := loadCatalog(ctx, c.Parent())
	if err != nil {
		e.log.WarnContext(ctx, "cachedsql: cannot read the database catalog; reads are not cached and writes invalidate every table until it can",
			"err", err)
		cat = &catalog{unknown: true}
	}
	cat.gen, cat.at = want, e.now() // counted from the end of the load: a slow load is not retried at once
	cs.cur.Store(cat)
}

// maxAge is how long c is used before it is loaded again.
func (c *catalog) maxAge() time.Duration {
	if c.unknown {
		return catalogRetry
	}
	return catalogMaxAge
}

// dialect is the kind of database a parent connection reaches.
type dialect uint8

const (
	dialectOther dialect = iota
	dialectPostgres
	dialectSQLite
)

// dialectOf tells the database from the parent connection's Go type: mattn/go-sqlite3, or pgx and
// lib/pq for PostgreSQL.
func dialectOf(conn driver.Conn) dialect {
	t := reflect.TypeOf(conn)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pkg := t.PkgPath()
	switch {
	case strings.Contains(pkg, "sqlite"):
		return dialectSQLite
	case strings.Contains(pkg, "pgx"), strings.HasSuffix(pkg, "/pq"), strings.Contains(pkg, "postgres"):
		return dialectPostgres
	}
	return dialectOther
}

// loadCatalog reads the catalog on conn within catalogTimeout.
func loadCatalog(ctx context.Context, conn driver.Conn) (*catalog, error) {
	switch dialectOf(conn) {
	case dialectPostgres:
		// The bound is PostgreSQL's statement_timeout (see loadPostgres): pgx closes a connection whose
		// query outlives its context, and this is the application's connection. The context only guards
		// against a stalled network.
		ctx, cancel := context.WithTimeout(ctx, catalogTimeout+2*time.Second)
		defer cancel()
		c, err := loadPostgres(ctx, conn, time.Now().Add(catalogTimeout))
		if err != nil {
			return nil, err
		}
		return c.settle(), nil
	case dialectSQLite:
		ctx, cancel := context.WithTimeout(ctx, catalogTimeout) // go-sqlite3 interrupts the query
		defer cancel()
		c, err := loadSQLite(ctx, conn)
		if err != nil {
			return nil, err
		}
		return c.settle(), nil
	}
	return &catalog{none: true}, nil
}

// catalogQuery runs query on conn and calls row for each row, its values converted to strings
// (NULL is "").
func catalogQuery(ctx context.Context, conn driver.Conn, query string, row func(vals []string) error) error {
	rows, err := queryConn(ctx, conn, query, nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	vals := make([]string, len(dest))
	for {
		err := rows.Next(dest)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for i, v := range dest {
			vals[i] = text(v)
		}
		if err := row(vals); err != nil {
			return err
		}
	}
}

// execConn runs a statement without rows on a parent connection.
func execConn(ctx context.Context, conn driver.Conn, query string) error {
	rows, err := queryConn(ctx, conn, query, nil)
	if err != nil {
		return err
	}
	return rows.Close()
}
