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
// written as text) are not recognised: do not key row rules on such columns. Triggers and foreign keys
// with ON DELETE CASCADE or SET NULL that change other rows of the same table are not seen either.
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
// or timeout sends the read to the database (identical concurrent reads still share one query, see
// Stampedes), and repeated failures open a circuit breaker for Options.BreakerCooldown. A token that could not be replaced after a write is kept pending in memory:
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
// [StatsOf] (or [Connector.Stats]) returns counters; Options.Logger and Options.Observer report events.
package cachedsql
