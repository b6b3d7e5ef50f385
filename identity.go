package cachedsql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cachedsql/cachedsql/keying"
	"github.com/cachedsql/cachedsql/strategies"
)

// Identity and session (see the package doc, "Isolation"). Generation tokens are kept per database
// identity, which the server reports: every spelling of one database's data source name, and every
// process reaching it, shares them. Entries are kept per identity and per session: the effective role
// and the settings that change a result, also read from the server. Both are read once per new
// connection, in one round trip, before the connection is handed to database/sql; the first connection
// of a cache fixes the cache's own identity and session (the engine's layouts). A later connection that
// reports another session, or another database, bypasses the cache for its reads (its writes still
// invalidate, under its own database's identity).

// dbKind says how a connection's identity and session are read.
type dbKind uint8

const (
	kindOther    dbKind = iota // identity from the data source name; no session read
	kindPostgres               // pg_control_system() and pg_database; current_user and settings
	kindSQLite                 // the main database file's device and inode
)

// kindOf tells the kind of database parent reaches from its registered name and its Go type.
func kindOf(driverName string, parent driver.Driver) dbKind {
	s := strings.ToLower(driverName)
	if parent != nil {
		t := reflect.TypeOf(parent)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		s += " " + strings.ToLower(t.PkgPath()+"."+t.Name())
	}
	switch {
	case strings.Contains(s, "sqlite"):
		return kindSQLite
	case strings.Contains(s, "pgx") || strings.Contains(s, "postgres") || strings.Contains(s, "lib/pq") ||
		strings.Contains(s, "pq.driver"):
		return kindPostgres
	}
	return kindOther
}

// pgSettings are the PostgreSQL settings that change what a read returns (its rows, or their text):
// name resolution, the text of dates, times, intervals, floats, bytea and money, how literals and
// XML are parsed, and whether row-level security applies. Plan-only settings are left out.
var pgSettings = []string{
	"array_nulls", "backslash_quote", "bytea_output", "client_encoding", "DateStyle",
	"default_text_search_config", "extra_float_digits", "gin_fuzzy_search_limit", "IntervalStyle",
	"lc_monetary", "lc_numeric", "lc_time", "quote_all_identifiers", "row_security", "search_path",
	"standard_conforming_strings", "TimeZone", "timezone_abbreviations", "transform_null_equals",
	"xmlbinary", "xmloption",
}

// pgIdentityQuery returns the one statement that reads a PostgreSQL connection's identity and session:
// the cluster's system identifier (NULL when withSystem is false), the database's OID, the effective and
// session roles, whether the server is a standby, the settings of pgSettings, and the custom settings
// named in custom. A standby has its primary's system identifier, so that writes on the primary
// invalidate what was read from it; its entries are kept apart, so that a lagging standby's rows are
// never served to readers of the primary.
func pgIdentityQuery(withSystem bool, custom []string) string {
	system := "NULL"
	if withSystem {
		system = "(SELECT system_identifier::text FROM pg_catalog.pg_control_system())"
	}
	quoted := make([]string, len(pgSettings))
	for i, s := range pgSettings {
		quoted[i] = sqlLiteral(s)
	}
	customPart := "''"
	if len(custom) > 0 {
		cq := make([]string, len(custom))
		for i, s := range custom {
			cq[i] = sqlLiteral(s)
		}
		customPart = "(SELECT pg_catalog.string_agg(n || coalesce('=' || pg_catalog.current_setting(n, true), ' unset'), " +
			"E'\\n' ORDER BY n) FROM pg_catalog.unnest(ARRAY[" + strings.Join(cq, ", ") + "]::text[]) AS n)"
	}
	return "SELECT " + system + ", " +
		"(SELECT oid::text FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()), " +
		"current_user::text, session_user::text, pg_catalog.pg_is_in_recovery()::text, " +
		"(SELECT pg_catalog.string_agg(name || '=' || setting, E'\\n' ORDER BY name) FROM pg_catalog.pg_settings " +
		"WHERE name IN (" + strings.Join(quoted, ", ") + ")), " + customPart
}

// sqlLiteral quotes s as a standard SQL string literal.
func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// connIdentity is what a connection reported when it opened: the identity its writes invalidate and
// the session its reads run in, and how both compare with its cache's.
type connIdentity struct {
	// db names the database's generation tokens ("" when it could not be read).
	db string
	// unknown: the identity query failed; the connection neither fixes nor shares the cache's identity.
	unknown bool
	// session keys entries besides db.
	session string
	// mode compares the connection with its cache (set by engine.adopt).
	mode connMode
	// epoch is the epoch key of db, which the writes of a connection on another database replace.
	epoch string
}

// connMode compares a connection's identity and session with its cache's.
type connMode uint8

const (
	modeSame         connMode = iota // the cache's database and session: reads use the cache
	modeOtherSession                 // the cache's database, another role or settings: reads bypass
	modeOtherDB                      // another (or an unknown) database: reads bypass, writes replace its epoch
)

// identityState is the engine's identity, fixed by its first connection.
type identityState struct {
	// kind, query and private are fixed at Open.
	kind   dbKind
	query  string // kindPostgres: pgIdentityQuery(true, …)
	driver string // the parent driver's Go type, which also keys entries
	// private is a random part of the identity of a database only this cache sees (in-memory SQLite).
	private string
	dsnID   string // keying.Identity of the data source name ("" without one)

	// mu serializes the first adoption.
	mu sync.Mutex
	// resolved is set (after the layouts of the engine and of its invalidation) once the identity is known.
	resolved atomic.Bool
	db       string // the engine's database identity
	session  string // the engine's session
	// warned is set once an identity could not be read, or only without the system identifier (logged once).
	warned atomic.Bool
}

// initIdentity prepares what newEngine knows of the identity before any connection.
func (e *engine) initIdentity(driverName, dsn string, parent driver.Driver) {
	id := &e.id
	id.kind = kindOf(driverName, parent)
	id.driver = fmt.Sprintf("%T", parent)
	if dsn != "" {
		id.dsnID = keying.Identity(driverName, dsn)
	}
	if id.kind == kindSQLite || keying.Private(driverName, dsn) {
		id.private = "private=" + rand.Text()
	}
	if id.kind == kindPostgres {
		id.query = pgIdentityQuery(true, e.opts.SessionSettings)
	}
}

// identify reads conn's identity and session from the server (one round trip), or derives them from the
// data source name for databases of another kind. It fails only when ctx ends; a connection whose
// identity cannot be read otherwise (a PostgreSQL-compatible server without these functions) is
// returned as unknown: its reads bypass the cache (see connIdentity.writeEffect for its writes), and the
// failure is logged once.
func (e *engine) identify(ctx context.Context, conn driver.Conn) (*connIdentity, error) {
	var ci connIdentity
	var err error
	switch e.id.kind {
	case kindPostgres:
		err = e.identifyPostgres(ctx, conn, &ci)
	case kindSQLite:
		err = e.identifySQLite(ctx, conn, &ci)
	default:
		ci.db = e.id.dsnID
		if e.id.private != "" && ci.db != "" {
			ci.db += " " + e.id.private
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, err
	case err != nil:
		if e.id.warned.CompareAndSwap(false, true) {
			e.log.WarnContext(ctx, "cachedsql: the database's identity cannot be read: reads on such connections bypass the cache", "err", err)
		}
		return &connIdentity{unknown: true}, nil
	case e.opts.Identity != "":
		ci.db = e.opts.Identity
	}
	ci.unknown = ci.db == ""
	return &ci, nil
}

// identifyPostgres reads the system identifier, the database's OID, the roles and the settings. A role
// that may not call pg_control_system() (a DBA revoked it from PUBLIC) falls back to the identity of
// the data source name, and says so in the log.
func (e *engine) identifyPostgres(ctx context.Context, conn driver.Conn, ci *connIdentity) error {
	vals, err := queryRow(ctx, conn, e.id.query, 7)
	if err != nil {
		first := err
		if vals, err = queryRow(ctx, conn, pgIdentityQuery(false, e.opts.SessionSettings), 7); err != nil {
			return first
		}
		if e.id.warned.CompareAndSwap(false, true) {
			e.log.WarnContext(ctx, "cachedsql: pg_control_system() is not readable: the database identity falls back to the data source name; grant EXECUTE on it or set Options.Identity",
				"err", first)
		}
	}
	switch {
	case vals[0] != "" && vals[1] != "":
		ci.db = "postgres system=" + vals[0] + " db=" + vals[1]
	case e.id.dsnID != "":
		ci.db = e.id.dsnID
	}
	ci.session = "role=" + vals[2] + "\nsession_user=" + vals[3] + "\nstandby=" + vals[4] + "\n" + vals[5] +
		"\ncustom:\n" + vals[6]
	return nil
}

// identifySQLite names the main database file by device and inode (whatever path, link or URI reached
// it); an in-memory or temporary database is private to this cache. The session is the data source
// name's parameters (mattn's _foreign_keys, _case_sensitive_like …): they key entries, not tokens.
func (e *engine) identifySQLite(ctx context.Context, conn driver.Conn, ci *connIdentity) error {
	rows, err := queryConn(ctx, conn, "PRAGMA database_list", nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	file, found := "", false
	dest := make([]driver.Value, len(rows.Columns()))
	for len(dest) >= 3 && rows.Next(dest) == nil {
		if text(dest[1]) == "main" {
			file, found = text(dest[2]), true
		}
	}
	switch {
	case !found:
		ci.db = e.id.dsnID
	case file == "": // in memory, or temporary
		ci.db = "sqlite " + e.id.private
	default:
		ci.db = "sqlite " + fileIdentity(file)
	}
	if _, q, ok := strings.Cut(e.id.dsnID, "?"); ok {
		ci.session = q
	}
	return nil
}

// queryRow runs query on conn and returns the n columns of its first row as text (NULL as "").
func queryRow(ctx context.Context, conn driver.Conn, query string, n int) ([]string, error) {
	rows, err := queryConn(ctx, conn, query, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if len(rows.Columns()) != n {
		return nil, fmt.Errorf("cachedsql: identity query: %d columns, want %d", len(rows.Columns()), n)
	}
	dest := make([]driver.Value, n)
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			err = errors.New("cachedsql: identity query: no row")
		}
		return nil, err
	}
	out := make([]string, n)
	for i, v := range dest {
		out[i] = text(v)
	}
	return out, nil
}

// text renders a driver value read from the database's own tables (identity and catalog queries):
// booleans as PostgreSQL writes them, t or f.
func text(v driver.Value) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case bool:
		if v {
			return "t"
		}
		return "f"
	}
	return fmt.Sprint(v)
}

// adopt compares ci with the engine's identity and session, which the first connection fixes.
func (e *engine) adopt(ci *connIdentity) {
	id := &e.id
	if ci.unknown {
		ci.mode = modeOtherDB
		return
	}
	if !id.resolved.Load() {
		id.mu.Lock()
		if !id.resolved.Load() {
			id.db, id.session = ci.db, ci.session
			e.setLayouts(ci.db, ci.session)
			e.useIdentity(ci.db)
			e.initRows() // its plans name tokens: after the layouts
			id.resolved.Store(true)
		}
		id.mu.Unlock()
	}
	switch {
	case ci.db == "" || ci.db != id.db:
		ci.mode = modeOtherDB
		if ci.db != "" {
			ci.epoch = keying.NewLayout(e.opts.Namespace, ci.db).Epoch()
		}
	case ci.session != id.session:
		ci.mode = modeOtherSession
	}
}

// useIdentity starts what needs the database's identity db: the in-process store, shared by the
// handles of this process on the same database, and the watch of the processes sharing a Redis.
func (e *engine) useIdentity(db string) {
	if e.local && e.st == nil {
		e.memKey = memoryStoreKey(e.opts.Namespace, db)
		sm := acquireMemory(e.memKey, e.opts.MemoryMaxBytes, e.clock)
		e.st, e.aside.Leases = sm.st, sm.leases
		e.aside.Store, e.inval.Store, e.bg.Store = sm.st, sm.st, sm.st
	}
	if w, ok := e.st.(strategies.WatchStore); ok && !e.local {
		e.watch.Start(w, e.layout) // a Redis shared with other processes
	}
}

// setLayouts fixes the engine's key layouts: tokens under the database identity db, entries also under
// the parent driver's type (another driver returns other Go values for the same rows) and the session.
func (e *engine) setLayouts(db, session string) {
	e.layout = keying.NewLayout(e.opts.Namespace, db)
	e.entries = keying.NewLayout(e.opts.Namespace, db+"\x00driver "+e.id.driver+"\x00session "+session)
	e.inval.SetLayout(e.layout)
}

// resolveIdentity makes sure the engine knows its identity before a use that does not come through one
// of its connections (Invalidate), by opening one through db if none has been opened yet.
func (e *engine) resolveIdentity(ctx context.Context, db *sql.DB) error {
	if e.id.resolved.Load() {
		return nil
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	return c.Close()
}

// writeEffect returns what a write on a connection with identity ci does to the cache: eff itself on
// the cache's database, and the replacement of a whole database's epoch otherwise: its own database's,
// or, when its identity could not be read, the cache's (most likely the same database).
func (ci *connIdentity) writeEffect(e *engine, eff *writeEffect) *writeEffect {
	if eff == nil || ci.mode != modeOtherDB {
		return eff
	}
	epoch := ci.epoch
	if ci.unknown && e.id.resolved.Load() {
		epoch = e.layout.Epoch()
	}
	if epoch == "" {
		return nil
	}
	return &writeEffect{Effect: strategies.Effect{Keys: []string{epoch}, All: true}}
}

// bypass returns why reads on a connection with identity ci do not use the cache (bypassNone: they do).
func (ci *connIdentity) bypass() BypassReason {
	switch ci.mode {
	case modeOtherSession:
		return BypassSessionDiffers
	case modeOtherDB:
		return BypassOtherDatabase
	}
	return bypassNone
}

// ResolveIdentity connects to the database that driverName and dsn name, as [Open] would, and returns the
// identity its generation tokens are kept under: for PostgreSQL and SQLite read from the server (see the
// package doc, "Isolation"), for other databases [IdentityOf]. The command-line tool uses it to replace
// a table's token.
func ResolveIdentity(ctx context.Context, driverName, dsn string) (string, error) {
	db, err := Open(driverName, dsn, Options{})
	if err != nil {
		return "", err
	}
	defer db.Close()
	e := db.Driver().(*connectorDriver).eng
	if err := e.resolveIdentity(ctx, db); err != nil {
		return "", err
	}
	return e.id.db, nil
}
