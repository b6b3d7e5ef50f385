// Package pgsignal keeps a cachedsql cache fresh when PostgreSQL tables are written by programs that
// do not go through the wrapper: psql sessions, migrations, other services, cron jobs.
//
// It is opt-in and has two halves. [Install] creates one trigger function and, on each covered table,
// a statement-level AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE trigger that calls
// pg_notify(channel, table name). PostgreSQL folds identical notifications sent in one transaction,
// so a transaction sends at most one notification per table it changed, and the payload (the quoted
// table name) stays far below NOTIFY's 8000-byte limit. [Listen] runs a dedicated pgx connection that
// LISTENs on the channel and, for each notification, replaces the table's generation token with
// [cachedsql.Invalidate], so every process sharing the cache misses on that table from then on.
//
// Notifications are not queued for a connection that is not listening. When the listener's connection
// is lost, it reconnects with backoff and, once LISTEN is in effect again, invalidates the whole
// database's cache (its epoch): any table may have changed in between. The first LISTEN does not do
// this; entries cached before the listener started are only as fresh as the writes the wrapper saw.
//
// # Cost
//
// A transaction that has called NOTIFY takes a database-wide lock while it commits, so committing
// transactions that notified are serialized with each other; and every write statement on a covered
// table runs one more trigger. Both are small at modest write rates and grow with them. Prefer TTLs
// (rules with a short TTL and no reliance on outside writes) when the covered tables are written at
// high rates, or when most writes come from many writers outside the wrapper: each of those writes
// would evict every cached read of its table, and the cache would mostly miss while still paying for
// the notifications. The adapter fits tables that are read much more often than they are written and
// that are occasionally changed behind the application's back.
//
// Install needs PostgreSQL 11 or later (EXECUTE FUNCTION in CREATE TRIGGER).
//
// The command line has the same installer: cachedsql pg install -dsn DSN [-channel C] [-tables a,b]
// and cachedsql pg uninstall -dsn DSN.
package pgsignal
