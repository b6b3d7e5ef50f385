package cachedsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/keying"
)

// Options configures a wrapped driver or connector. The zero value of every field means its default, so
// Options{} caches nothing (no rules) and Options{Rules: r} caches in process memory.
type Options struct {
	// Rules decide which reads are cached and for how long. Nil caches nothing: every statement goes to the
	// database, and writes still replace generation tokens (so other processes sharing the store stay fresh).
	Rules *Rules

	// Redis is the shared store. Any go-redis client works: *redis.Client, *redis.ClusterClient (every
	// multi-key step is a pipeline of single-key commands), a Sentinel failover client or *redis.Ring.
	// It must have ContextTimeoutEnabled set, so that StoreTimeout cuts socket I/O: Open refuses a
	// go-redis client without it ([ErrNoContextTimeout]).
	// Nil uses an in-process memory store (see MemoryMaxBytes): correct within one process, not shared
	// with other processes. Every handle of the process on one database and Namespace shares one such
	// store, released when the last of them closes.
	Redis redis.UniversalClient

	// Namespace prefixes every key this wrapper writes: "<Namespace>:". Default "cachedsql". It must
	// not hold "{}": on a Redis Cluster that empty hash tag would separate a row entry from the token
	// that guards it. A hash tag such as "{app}" is fine (every key then lives in one slot).
	Namespace string

	// Identity names the database for generation tokens, overriding the identity read from the server:
	// every process that shares a store and a database must use the same Identity, and different
	// databases must not. Default: for PostgreSQL the cluster's system identifier and the database's OID,
	// for SQLite the database file's device and inode, both read when a connection opens; for other
	// databases derived from the data source name by [IdentityOf] (WrapConnector then requires it). It
	// replaces only the database part of a key: entries stay keyed by the role and session settings
	// each connection reports (see the package doc, "Isolation").
	Identity string

	// SessionSettings names custom settings (such as "app.tenant", read by a row-level security
	// policy) whose value at connection time keys cached entries, besides the role and the built-in
	// settings that change results (see the package doc, "Isolation"). PostgreSQL only. Default none.
	SessionSettings []string

	// StoreTimeout bounds each store round trip of a read; a slower store is treated as failed and the
	// statement goes to the database. Default 50ms.
	StoreTimeout time.Duration

	// InvalidateTimeout bounds the store round trip that replaces generation tokens after a write. It
	// is longer than StoreTimeout because a replacement that fails leaves other processes serving
	// older data until it is delivered (see the package doc). Default 250ms.
	InvalidateTimeout time.Duration

	// BreakerThreshold is how many consecutive store failures of reads, lasting at least a second, open
	// the circuit breaker: reads then skip the store, but for one trial call per BreakerCooldown, until
	// a call succeeds. Writes never consult it: they always try to deliver their invalidations. Default
	// 5; negative disables the breaker.
	BreakerThreshold int
	// BreakerCooldown is how long an open breaker waits before one trial call. Default 2s.
	BreakerCooldown time.Duration

	// FillTimeout bounds a load shared by concurrent misses (one query, read in full): it runs on a
	// context of its own, so that one caller giving up does not fail the others. Default 30s.
	FillTimeout time.Duration

	// MaxPending caps the generation tokens kept in memory while the store is unreachable. Past it the
	// whole namespace epoch is bumped instead when the store returns. Default 1024.
	MaxPending int

	// MemoryMaxBytes bounds the in-process store used when Redis is nil, its keys, values, index sets
	// and an estimate of their bookkeeping included. Default 64 MiB. The first handle to open a shared
	// store (see Redis) sizes it.
	MemoryMaxBytes int64

	// Logger receives store failures and breaker transitions (Warn) and per-statement decisions (Debug).
	// Default: no logging.
	Logger *slog.Logger

	// Observer is told about every read decision, invalidation and store failure. Default none.
	Observer Observer

	// QueryStatsInterval is how often this process adds its per-statement statistics (calls, hits,
	// misses, bypasses, database and hit time, by statement digest: see [Admin.QueryStats]) to Redis.
	// Default 10s with Redis; without Redis statistics are off unless it is set ([QueryStatsOf] then
	// reads them in process). Negative turns statistics off.
	QueryStatsInterval time.Duration

	// testStore replaces the store (tests only).
	testStore cacheStore
	// test lets tests force interleavings and inject time, chance and flights (tests only).
	test testKnobs
	// testSkipTokenCheck serves entries without comparing generation tokens (tests only: it shows that
	// the freshness tests can fail).
	testSkipTokenCheck bool
}

const (
	defaultNamespace        = "cachedsql"
	defaultBreakerThreshold = 5
	defaultBreakerCooldown  = 2 * time.Second
	defaultMaxPending       = 1024
	defaultMemoryMaxBytes   = 64 << 20
	defaultFillTimeout      = 30 * time.Second
	// defaultStoreTimeout is above the tail of a Redis round trip on a host whose CPU is saturated (a
	// three-key MGET measured 11 ms at the 99th percentile, 38 ms at the 99.9th, with four CPU-bound
	// processes on two cores; 2 ms and 5 ms with the CPU idle): a loaded host costs a rare bypass, a
	// store that has stopped answering costs each read at most this until the breaker opens.
	defaultStoreTimeout      = 50 * time.Millisecond
	defaultInvalidateTimeout = 250 * time.Millisecond
)

// testKnobs are the engine's test hooks; zero values mean the real thing.
type testKnobs struct {
	afterTokens func() // the entry and its tokens have been read, before any query
	beforeQuery func() // in a shared load, just before the database query
	beforeFill  func() // the rows have been read, before they are stored
	// beforeRefresh runs when a background refresh is about to start.
	beforeRefresh func()
	clock         clock.Clock // the engine's clock (internal/clock)
	rand          func() float64
	noDedup       bool                     // every miss runs its own load (lockstore.Group.NoDedup)
	analysis      func(site, query string) // called where analysis of query runs ("plan", "effect", "row", "args"): may panic
}

var errNotCaching = errors.New("cachedsql: not a database opened by cachedsql")

// ErrNoIdentity is returned by WrapConnector when Options.Identity is empty and the parent's database
// is one whose identity is not read from the server (neither PostgreSQL nor SQLite).
var ErrNoIdentity = errors.New("cachedsql: Options.Identity is required for this driver when there is no data source name")

func (o Options) withDefaults() (Options, error) {
	if o.Namespace == "" {
		o.Namespace = defaultNamespace
	}
	if strings.Contains(o.Namespace, "{}") {
		return o, fmt.Errorf("cachedsql: Namespace %q holds \"{}\", which turns Redis Cluster hash tags off", o.Namespace)
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = defaultStoreTimeout
	}
	if o.InvalidateTimeout == 0 {
		o.InvalidateTimeout = defaultInvalidateTimeout
	}
	if o.BreakerThreshold == 0 {
		o.BreakerThreshold = defaultBreakerThreshold
	}
	if o.BreakerCooldown == 0 {
		o.BreakerCooldown = defaultBreakerCooldown
	}
	if o.FillTimeout == 0 {
		o.FillTimeout = defaultFillTimeout
	}
	if o.MaxPending == 0 {
		o.MaxPending = defaultMaxPending
	}
	if o.MemoryMaxBytes == 0 {
		o.MemoryMaxBytes = defaultMemoryMaxBytes
	}
	switch {
	case o.StoreTimeout < 0:
		return o, errors.New("cachedsql: Options.StoreTimeout must not be negative")
	case o.InvalidateTimeout < 0:
		return o, errors.New("cachedsql: Options.InvalidateTimeout must not be negative")
	case o.BreakerCooldown < 0:
		return o, errors.New("cachedsql: Options.BreakerCooldown must not be negative")
	case o.FillTimeout < 0:
		return o, errors.New("cachedsql: Options.FillTimeout must not be negative")
	case o.MaxPending < 0:
		return o, errors.New("cachedsql: Options.MaxPending must not be negative")
	case o.MemoryMaxBytes < 0:
		return o, errors.New("cachedsql: Options.MemoryMaxBytes must not be negative")
	case o.Redis != nil && !honoursDeadlines(o.Redis):
		return o, ErrNoContextTimeout
	}
	return o, nil
}

// ErrNoContextTimeout is returned by Open, Register, WrapDriver and WrapConnector for a go-redis client
// whose options leave ContextTimeoutEnabled false: such a client ignores context deadlines on socket
// I/O, so StoreTimeout could not bound a call to a hung Redis (one read stalled 9s, its ReadTimeout).
var ErrNoContextTimeout = errors.New("cachedsql: the Redis client must set ContextTimeoutEnabled, or StoreTimeout cannot bound its calls")

// honoursDeadlines reports whether c cuts socket I/O at a context's deadline. Clients of other types
// than go-redis's own are taken at their word.
func honoursDeadlines(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// Open opens a database through the driver registered as driverName, with caching: a drop-in for
// [sql.Open]. The parent driver must already be registered (import it as usual). The returned *sql.DB
// closes the cache's resources when closed; a Redis client passed in Options is not closed.
func Open(driverName, dsn string, opts Options) (*sql.DB, error) {
	parent, err := lookupDriver(driverName, dsn)
	if err != nil {
		return nil, err
	}
	c, err := newConnector(parent, driverName, dsn, opts)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// lookupDriver finds a registered driver by name: database/sql has no lookup API, but an opened (never
// connected) *sql.DB reports its driver. The real dsn is used because some drivers parse it in sql.Open.
func lookupDriver(name, dsn string) (driver.Driver, error) {
	db, err := sql.Open(name, dsn)
	if err != nil {
		return nil, fmt.Errorf("cachedsql: %w", err)
	}
	defer db.Close()
	d := db.Driver()
	switch d.(type) {
	case *cachingDriver, *connectorDriver, *envDriver:
		return nil, fmt.Errorf("cachedsql: driver %q is already a caching driver: open it with sql.Open", name)
	}
	return d, nil
}

// Register makes a caching driver over parent available to [sql.Open] as name. Every *sql.DB opened with
// it gets its own cache over its own data source name. Like [sql.Register], it panics if name is taken or
// parent is nil; invalid options also panic (they are a setup mistake).
func Register(name string, parent driver.Driver, opts Options) {
	d, err := WrapDriver(parent, opts)
	if err != nil {
		panic(err)
	}
	sql.Register(name, d)
}

// WrapDriver returns a caching driver over parent, for [sql.Register] or direct use. Each data source name
// opened through it (as a connector) gets its own cache; a connection opened with its Open, outside any
// *sql.DB, gets a cache of its own, which closing the connection closes. It fails for invalid options.
func WrapDriver(parent driver.Driver, opts Options) (driver.Driver, error) {
	if parent == nil {
		panic("cachedsql: WrapDriver: nil parent driver")
	}
	if _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	return &cachingDriver{parent: parent, opts: opts}, nil
}

// WrapConnector returns a caching connector over parent, for [sql.OpenDB]. The identity of a PostgreSQL
// or SQLite database is read from the server, as [Open] reads it; for other databases Options.Identity
// is required, since a connector does not expose the database it connects to.
func WrapConnector(parent driver.Connector, opts Options) (*Connector, error) {
	if parent == nil {
		panic("cachedsql: WrapConnector: nil parent connector")
	}
	if opts.Identity == "" && kindOf("", parent.Driver()) == kindOther {
		return nil, ErrNoIdentity
	}
	eng, err := newEngine(opts, "", "", parent.Driver())
	if err != nil {
		return nil, err
	}
	return newConnectorOver(parent, eng), nil
}

// newConnectorOver makes the Connector of eng over parent, and lets eng's refresher open connections
// through it.
func newConnectorOver(parent driver.Connector, eng *engine) *Connector {
	c := &Connector{parent: parent, eng: eng}
	eng.rdb.open = func() *sql.DB { return sql.OpenDB(refreshConnector{c}) }
	return c
}

// refreshConnector opens the refresher's connections. It has no Close: closing the refresher's DB
// must not close the cache it belongs to.
type refreshConnector struct{ c *Connector }

func (r refreshConnector) Connect(ctx context.Context) (driver.Conn, error) { return r.c.Connect(ctx) }
func (r refreshConnector) Driver() driver.Driver                            { return r.c.Driver() }

// newConnector opens a connector of parent for dsn; driverName (a registered name, or "" when unknown)
// helps tell what kind of data source name dsn is.
func newConnector(parent driver.Driver, driverName, dsn string, opts Options) (*Connector, error) {
	if driverName == "" {
		driverName = fmt.Sprintf("%T", parent)
	}
	eng, err := newEngine(opts, driverName, dsn, parent)
	if err != nil {
		return nil, err
	}
	var pc driver.Connector = dsnConnector{dsn: dsn, d: parent}
	if dc, ok := parent.(driver.DriverContext); ok {
		if pc, err = dc.OpenConnector(dsn); err != nil {
			eng.close()
			return nil, err
		}
	}
	return newConnectorOver(pc, eng), nil
}

// cachingDriver is the wrapper registered under a name. It always implements driver.DriverContext so that
// database/sql opens one Connector (one cache) per *sql.DB.
type cachingDriver struct {
	parent driver.Driver
	opts   Options
}

// Open opens one connection outside any *sql.DB; its cache lives as long as the connection: closing
// the connection closes it (its last delivery of invalidations, its background work).
func (d *cachingDriver) Open(dsn string) (driver.Conn, error) {
	c, err := newConnector(d.parent, "", dsn, d.opts)
	if err != nil {
		return nil, err
	}
	conn, err := c.Connect(context.Background())
	if err != nil {
		c.Close()
		return nil, err
	}
	conn.(interface{ Core() *wrap.Conn }).Core().OnClose = sync.OnceFunc(func() { c.Close() })
	return conn, nil
}

func (d *cachingDriver) OpenConnector(dsn string) (driver.Connector, error) {
	return newConnector(d.parent, "", dsn, d.opts)
}

// dsnConnector adapts a driver without DriverContext, as database/sql does.
type dsnConnector struct {
	dsn string
	d   driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }

// Connector is a caching [driver.Connector]: pass it to [sql.OpenDB]. It is safe for concurrent use.
// Closing the *sql.DB closes it.
type Connector struct {
	parent driver.Connector
	eng    *engine
}

var (
	_ driver.Connector     = (*Connector)(nil)
	_ io.Closer            = (*Connector)(nil)
	_ driver.DriverContext = (*cachingDriver)(nil)
)

// Connect opens a parent connection and wraps it.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	pc, err := c.parent.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return c.eng.wrapConn(ctx, pc)
}

// Driver returns a driver that reports this connector's cache (see [StatsOf]) and opens connections of
// the parent driver through it.
func (c *Connector) Driver() driver.Driver {
	return &connectorDriver{parent: c.parent.Driver(), eng: c.eng}
}

// Close closes the parent connector if it has a Close method, and releases the cache's resources.
func (c *Connector) Close() error {
	c.eng.close()
	if cl, ok := c.parent.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// connectorDriver is what (*sql.DB).Driver returns for a caching DB.
type connectorDriver struct {
	parent driver.Driver
	eng    *engine
}

func (d *connectorDriver) Open(dsn string) (driver.Conn, error) {
	pc, err := d.parent.Open(dsn)
	if err != nil {
		return nil, err
	}
	return d.eng.wrapConn(context.Background(), pc)
}

// StatsOf returns a snapshot of the counters of the cache behind db, and false if db was not opened
// through this package. It serves every way of opening one: [Open], [sql.Open] with a driver from
// [Register] or [WrapDriver], and [sql.OpenDB] with a [Connector] from [WrapConnector]. It is safe for
// concurrent use, and cheap enough to call on every scrape of a metrics endpoint.
func StatsOf(db *sql.DB) (Stats, bool) {
	if d, ok := db.Driver().(*connectorDriver); ok {
		return d.eng.stats.snapshot(d.eng), true
	}
	return Stats{}, false
}

// Unwrap returns the parent driver connection of a connection made by this package, for use inside
// [sql.Conn.Raw]; it returns conn itself if it is not one of ours.
func Unwrap(conn any) any {
	if u, ok := conn.(interface{ Unwrap() driver.Conn }); ok {
		return u.Unwrap()
	}
	return conn
}

// wrapConn reads the identity and session of a new parent connection (one round trip) and wraps it. If
// ctx ends meanwhile, the connection is closed and the error returned.
func (e *engine) wrapConn(ctx context.Context, pc driver.Conn) (driver.Conn, error) {
	ci, err := e.identify(ctx, pc)
	if err != nil {
		pc.Close()
		return nil, err
	}
	e.adopt(ci)
	dc, core := wrap.WrapConn(pc, e)
	core.State = &connState{id: ci}
	return dc, nil
}

// IdentityOf returns the database identity derived from a data source name: host, port, database, user
// and connection parameters, never the password; SQLite file names are made absolute. [Open] and
// [Register] use it for databases whose identity they cannot read from the server (neither PostgreSQL
// nor SQLite; see the package doc, "Isolation"). driverName ("mysql" …) only helps tell what kind of name
// dsn is. For PostgreSQL and SQLite, [ResolveIdentity] returns what Open uses.
func IdentityOf(driverName, dsn string) string { return keying.Identity(driverName, dsn) }
