// Package cachedsql wraps a database/sql driver so that reads matching configured rules are served
// from Redis (or an in-process store), and writes made through the wrapper keep every cached read fresh.
//
// # Opening a database
//
// Any of these gives a *sql.DB that caches:
//
//	db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{Redis: rdb, Rules: rules})
//
//	cachedsql.Register("pgx+cache", stdlib.GetDefaultDriver(), opts) // then sql.Open("pgx+cache", dsn)
//
//	c, err := cachedsql.WrapConnector(stdlib.GetConnector(cfg), cachedsql.Options{Identity: id, …})
//	db := sql.OpenDB(c)
//
// With Options.Redis nil the cache lives in process memory: one store per database and Namespace,
// shared by every handle of the process on that database. A blank import of drivers/pgx or
// drivers/sqlite3 registers "pgx+cachedsql" or "sqlite3+cachedsql", configured from the environment
// (see [OptionsFromEnv]).
//
// # What gets cached and when
//
// Every statement is analysed once per distinct text (package keying): its kind (read, write, DDL,
// session change, transaction control), the tables it reads and writes, and whether a read may be cached
// at all. Reads that call non-deterministic functions (now(), random(), nextval() …), lock rows (FOR
// UPDATE), read system catalogs, or hold several statements are never cached. A cacheable read is cached
// only when a [Rule] matches it (by sqlc query name, statement text, fingerprint, regular expression or
// tables read); the first matching rule wins. Reads inside a transaction, and on a connection whose
// session was changed in a way that can change a result (SET search_path or any other setting that
// is not a timeout, a name or a write-only pragma; set_config however spelled; DO, CALL, EXECUTE; a
// temporary table), go to the database until the change is undone: RESET, SET … TO DEFAULT, RESET ALL
// (but not for SET ROLE, SET SESSION AUTHORIZATION, temporary tables, DO or CALL) or DISCARD ALL, run
// outside a transaction. PRAGMA foreign_keys, busy_timeout, journal_mode, synchronous,
// statement_timeout, lock_timeout, application_name and the like never count. If analysing a statement
// fails (a defect of this package, logged once at Warn), a read goes to the database (bypass reason
// [BypassAnalysisFailed]) and anything else is treated as writing every table.
//
// # Isolation
//
// A cached entry's key holds, hashed with SHA-256 (no argument value and no identity text appears in a
// key): the database identity, the parent driver's Go type, the session (below), the normalized
// statement and the typed arguments. A generation token's key holds only the database identity and the
// table: every role, session and driver reaching one database shares its tokens, so a write by any of
// them invalidates every entry of the tables it wrote (and row tokens stay per row, shared likewise).
//
// The database identity is read from the server when a connection opens, never from the data source
// name's spelling: two DSNs that differ in parameters (application_name, sslmode, connect_timeout,
// default_query_exec_mode …), host alias (localhost or 127.0.0.1) or environment (PGHOST, PGUSER …)
// share it when they reach the same database.
//   - PostgreSQL (pgx, lib/pq and drivers whose name says postgres): the cluster's system identifier,
//     from pg_control_system(), which every role may call unless a DBA revoked it (PostgreSQL 9.6 and
//     later; a physical standby has its primary's, so a failover keeps it), and the database's OID. If the
//     function is not callable, the identity falls back to the DSN's (a warning is logged): grant EXECUTE
//     on it, or set Options.Identity.
//   - SQLite: the main database file's device and inode, from the file SQLite reports (PRAGMA
//     database_list), so a relative or absolute path, a symbolic link or a file: URI with parameters
//     reach one identity. An in-memory or temporary database is private to its connector: its identity
//     holds a random value, and it shares nothing through the store.
//   - Other databases (MySQL …): derived from the data source name by [IdentityOf] (host, port,
//     database, user and parameters, never the password); [WrapConnector] then needs Options.Identity.
//
// Options.Identity replaces the database identity (and nothing else) for every connection.
//
// The session is read in the same round trip, once per new connection, never per query. For PostgreSQL
// it is the effective role (current_user) and session_user, whether the server is a standby, the
// settings that change what a read
// returns (search_path, TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output,
// lc_monetary, lc_numeric, lc_time, standard_conforming_strings, backslash_quote, client_encoding,
// row_security, xmlbinary, xmloption, default_text_search_config, timezone_abbreviations,
// array_nulls, transform_null_equals, quote_all_identifiers, gin_fuzzy_search_limit), as set at
// connection time by the DSN, the role or the database, and the custom settings named in
// Options.SessionSettings (such as "app.tenant" read by a row-level security policy: custom settings
// cannot be listed, so name them). For SQLite it is the data source name's parameters. Other databases
// have none beyond the identity, which holds the DSN's user and parameters.
//
// The first connection of a *sql.DB fixes its identity and session. A later connection that reports
// another session (a role or setting changed by ALTER ROLE … SET meanwhile) reads from the database and
// does not write through; one that reports another database (a multi-host DSN that failed over to
// another cluster) reads from the database too, and its writes replace that database's epoch, which
// invalidates every entry of it in every process. A connection whose identity cannot be read at all (a
// PostgreSQL-compatible server without these functions) reads from the database, and its writes replace
// the epoch of the *sql.DB's database; a warning is logged once. A statement that changes the session (SET,
// set_config …) makes its connection bypass the cache, as "What gets cached and when" says.
//
// NOTE: a handle reading from a hot standby shares its primary's tokens, so writes through the wrapper
// on the primary invalidate its entries; but a read on the standby that runs before the write has been
// replayed fills an entry with the old rows and the new tokens, which is then served until the next
// write or its TTL. Do not cache reads from a standby that lags, or give its handle an Options.Identity
// of its own and a short TTL.
//
// WARNING: a key must include everything that changes a result. The wrapper cannot see state that lives
// outside the statement, its connection's role and the settings above: a custom setting not named in
// Options.SessionSettings, or a function whose result depends on the time. Do not write rules for such
// reads.
//
// # Staleness
//
// Every table of every database has a generation token in the store; a cached entry records the tokens
// read before its query ran, and is served only while they are all current. A write made through the
// wrapper replaces the tokens of the tables it writes before it returns (in a transaction: after Commit),
// so once a write has returned no reader in any process sharing the store sees older data. DDL, and writes
// whose tables are unknown, replace the database's epoch, which every entry records. Writes made outside
// the wrapper are seen when the entry's TTL ends, or once [Invalidate] is called for their tables (the
// pgsignal package calls it from PostgreSQL triggers' notifications).
//
// # Tables a statement does not name
//
// A statement changes or reads more than the tables it names: a delete cascades through foreign keys
// (ON DELETE/ON UPDATE CASCADE, SET NULL, SET DEFAULT), a trigger writes other tables, a view reads its
// base tables, a user-defined function reads or writes anything. Each connector reads these facts from
// its database's catalog (PostgreSQL: pg_constraint, pg_depend and pg_rewrite, pg_inherits, pg_proc,
// pg_trigger; SQLite: pragma foreign_key_list, the SQL of views and triggers in sqlite_master, pragma
// function_list) and plans every statement with them:
//
//   - a write also invalidates, transitively, the tables its foreign-key actions change (a plain INSERT
//     fires none), the tables its triggers write, the base tables of a view it writes, and the partitions
//     and inheritance children of a table it writes; a table changed that way is invalidated whole, also
//     under row rules;
//   - a read of a view records the tokens of every table the view reads, through views of views; a view
//     whose query is not cacheable (it calls now(), reads a catalog) is not cached;
//   - a read calling a user-defined function that is neither IMMUTABLE (PostgreSQL) nor registered as
//     deterministic (SQLite) is not cached, with the bypass reason [BypassUserFunction], unless its
//     rule lists the tables the function reads in [Rule.DependsOn]; a write to one of them then
//     invalidates it. A call of a VOLATILE PostgreSQL function (the default volatility) that no rule
//     vouches for that way may write any table or change a session setting: the statement replaces
//     the epoch once it has run, and its connection counts as session-changed. depends_on is a promise:
//     the functions read only those tables, write nothing a cached read depends on and change no
//     session setting.
//   - a write to a table whose triggers' effects cannot be read from their bodies (PL/pgSQL that runs
//     EXECUTE or calls a volatile user-defined function, another language, a PostgreSQL rule) replaces
//     the epoch, unless the rule file declares what they write ([Trigger], "triggers:").
//
// SQLite has no stored functions: its functions are Go code the application registers per connection,
// which cannot run SQL on the connection that calls them. The wrapper treats one registered as pure
// (deterministic) as reading nothing, and any other as one that may read tables (not cached without
// depends_on) but never as one that writes: a Go function that writes through another handle is a
// writer like any other (through the wrapper it invalidates; outside it, the TTL bounds staleness).
//
// The catalog is loaded lazily, on the connection of the first statement that needs it, outside
// transactions, within one second (on PostgreSQL in a read-only transaction of its own whose queries
// are bounded by statement_timeout, so that a slow catalog leaves the connection usable); a load that fails or times out never fails the statement, and until
// a load succeeds (retried every second) reads are not cached (reason "catalog unknown") and writes replace
// the epoch. It is read again after every statement through the wrapper that replaces the epoch for a
// schema change (DDL, DO, CALL), before the next statement is planned, and once a minute: DDL made
// outside the wrapper (a migration tool, psql) is seen within a minute. Names are compared without
// schema, as tokens are: a fact about s1.orders applies to every table called orders. Databases other
// than PostgreSQL and SQLite are planned from the statement's text alone. Functions called through
// operators are not seen.
//
// # Row rules and write-through
//
// Table-level invalidation is always safe but coarse: one update evicts every cached read of its table.
// A row rule ([Rule.Key], with the statement in [Match.SQL]) caches a lookup of one row by a primary or
// unique key, such as SELECT … FROM users WHERE id = $1; loading checks that the statement has that
// shape. Its entries are stored as Redis hashes (one field per column, and one for the envelope), read
// with HGETALL in the same round trip as their tokens. A write pinned to key values — UPDATE or DELETE
// whose WHERE compares the key with arguments or literals (=, IN), or an upsert whose conflict target
// is the key — invalidates the entries of those rows and every result-set entry of the table, and
// leaves other rows' entries valid. A write that cannot be pinned invalidates every row of the table.
// A lookup that finds no row is not cached, so a plain INSERT, which only adds rows, invalidates no row
// entry (only the table's result-set entries).
//
// Key values are compared in a canonical form, so that a write passing "42" and a read passing
// int64(42) name the same row: numbers by value, strings trimmed and lower-cased, UUIDs in any
// spelling as one. Values that collate equal in other ways (accent-insensitive collations, dates
// written as text) are not recognised: do not key row rules on such columns. A write to a table whose
// foreign keys or triggers change other rows of the same table invalidates every row of it.
//
// With [Rule.WriteThrough], a pinned write re-reads the rows it wrote on its own connection (after
// Commit in a transaction) and stores them before returning, so the next read is a hit with the new
// values. A row's entry is stored only while the row's token still has the value read before that
// query, so of two concurrent writes of one row the image stored is the one read after the later write.
// A result-set rule with WriteThrough recomputes, after a write to a table it reads, its hottest entries
// (at most [Rule.WriteThroughLimit], ranked by the rule's hot set) that this process has served; the
// others are invalidated. Each process registers the key columns of its row rules in the store, and a
// write reads those registries in the same round trip as its token replacement, so that processes with
// different rules (during a deployment) still invalidate each other's rows.
//
// # When the store fails
//
// The cache never makes a statement fail. A read's store calls are bounded by Options.StoreTimeout; a
// failure or timeout sends the read to the database (concurrent identical reads still share one query),
// and failures that go on for a second (or a refused connection, at once) open a circuit breaker for
// Options.BreakerCooldown. The breaker
// concerns reads only: a write always tries to replace its tokens, bounded by
// Options.InvalidateTimeout. A replacement that fails is queued: this process bypasses the cache for
// those tables while a background deliverer retries with backoff, and closing the *sql.DB makes a last
// attempt. While the store is failing, later writes queue without a round trip of their own.
//
// Other processes cannot learn of an undelivered write from its tokens. So every process that has
// written to a database through Redis beats every 250ms into a sorted set of the database, timed by the
// Redis server's clock, and keeps silent while it holds undelivered invalidations; a process that sees one
// silent for 1.5s bypasses the cache for that database until it beats again. So what a writer cut off
// from Redis changed is served elsewhere for at most about 1.75s. A process silent for 10s is presumed
// gone, and the database's epoch is replaced. Every write also increments the database's write
// generation in the store; a process that reads a lower value than it has seen (the store was restored
// from a snapshot or failed over to a lagging replica) replaces the database's epoch.
//
// NOTE: close the *sql.DB when the process shuts down. A writer that exits without Close looks like
// one cut off from the store: the others bypass the cache for up to 10s and then replace the epoch.
//
// # Stampedes
//
// Many requests missing one entry at once cost one database execution. Within a process, concurrent
// misses share one load (single flight): the first runs the query on its connection and reads the
// whole result, the others wait on their own contexts and get a copy. Across processes a fill lease in
// the store elects one filler; the others poll for its fill with jittered backoff for the rule's
// LockWait, then serve a stale copy where the rule allows it, or query the database themselves. A
// lease left by a crashed filler expires; no lease is needed for correctness, since a fill recorded
// with outdated generation tokens is never served.
//
// A slow or failing store does not undo this. Reads whose lookup failed or timed out share one more
// lookup and one query per process; while the circuit breaker is open they share one query without
// calling the store. One store call over StoreTimeout (a lookup, a lease call whose reply was lost) does
// not make a process fill alone: it goes on waiting for the lease, bounded by LockWait; only an open
// breaker means there is nobody to wait for. A caller waiting for another's load takes its result only
// if it cannot predate a write that returned before the caller began: the load's query began after the
// caller did, or it records the generation tokens the caller read itself. So while the store fails, a
// read that begins after a shared query began waits for the next one.
//
// Expiry of a hot entry can be made invisible: with Beta (XFetch, on by default) a hit recomputes the
// entry early with a probability that grows towards expiry and with the entry's query time, and the
// one that takes the lease recomputes while the others keep serving; with StaleWhileRevalidate an
// expired copy is served while a background refresh runs; with RefreshAhead entries hit HotHits times
// within a TTL are refreshed in the background shortly before they expire. StaleIfError serves an
// expired copy when the database fails. No stale window ever serves a copy that a write has made
// invalid: a write always wins. Background refreshes use a small connection pool of their own, at
// most two at a time; closing the *sql.DB stops them and waits for them. [Warm] fills a cache from a
// list of statements, for deploys and cold starts.
//
// # Per-call control
//
// [WithBypass], [WithRefresh] and [WithTTL] change what one call does through its context.
//
// # Seeing it work
//
// [StatsOf] returns a snapshot of a cache's counters, however its *sql.DB was opened ([Open], [sql.Open]
// with a driver from [Register], or [sql.OpenDB] with a [Connector]). Reads that went straight to the
// database are counted in [Stats].Bypasses by [BypassReason], copies served past their TTL in
// [Stats].StaleServed by [StaleReason]; the constants of each type say when it applies, and String gives
// the stable names that maps of them print ("no rule", "transaction" …).
//
// Options.Logger reports store failures and the circuit breaker. Options.Observer is told of each read
// as it is decided ([Observer], [ReadEvent]: the statement's fingerprint and normalized text, its rule,
// the outcome and its typed reason, and for a hit how long it took); optional interfaces add the
// database time of reads that went to the database ([QueryObserver]: a miss's load, a bypass until its
// rows are closed), invalidations ([InvalidateObserver]), store failures ([StoreErrorObserver]) and
// stampede-control events ([StampedeObserver]). Observers run on the statement's goroutine: they must
// be quick and safe for concurrent use. Without an observer the read path builds no events; without a
// QueryObserver a bypass gets no extra rows wrapper; per-statement statistics, when on, observe every
// read as a QueryObserver would.
//
// Per-statement statistics are on by default with Redis ([Options].QueryStatsInterval): each process
// counts its reads by statement digest and database (keying.DigestOf: literals and IN-list lengths do
// not count) in bounded memory, and adds them to Redis every 10s and when it closes, so that
// [Admin.QueryStats] and [Admin.TableWrites] return the figures of every process sharing the store, and
// [QueryStatsOf] those of one. A hit pays about 0.1µs for them, a bypass about 0.5µs.
//
// # Administration
//
// [Admin] works on a namespace in Redis from outside the applications that cache in it (the cachedsql
// command runs on it): it lists the databases, hot sets and recent invalidations, flushes the namespace
// or one rule's entries, and invalidates tables of one database. [Invalidate] does the latter through
// an open database.
package cachedsql
