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
// With Options.Redis nil the cache lives in process memory. A blank import of drivers/pgx or
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
// session was changed (SET, search_path, PRAGMA), go to the database.
//
// A cache key holds the database identity, the normalized statement and the typed arguments, hashed
// with SHA-256: no argument value appears in a key.
//
// WARNING: a key must include everything that changes a result. The wrapper cannot see state that lives
// outside the statement and its connection's session: row-level security that depends on a role set by
// the connection pool, or a function whose result depends on the time. Do not write rules for such reads.
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
//     deterministic (SQLite) is not cached, with the bypass reason "user-defined function", unless its
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
// The cache never makes a statement fail. Each store call is bounded by Options.StoreTimeout; a failure
// or timeout sends the read to the database, and repeated failures open a circuit breaker for
// Options.BreakerCooldown. A token that could not be replaced after a write is kept pending in memory:
// this process bypasses the cache for that table until the token reaches the store. A process that cannot
// reach the store at all cannot tell other processes of its writes: they are bounded by the TTL.
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
// [StatsOf] (or [Connector.Stats]) returns counters; Options.Logger and Options.Observer report events.
package cachedsql
