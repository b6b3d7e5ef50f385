package cachedsql

import (
	"strconv"
)

// BypassReason says why a read went straight to the database without looking up the cache. The zero
// BypassReason means the read was not bypassed. String returns a short stable name ("no rule",
// "transaction" …): [Stats.Bypasses] prints and logs show it, and it does not change between releases.
type BypassReason uint8

// Reasons a read bypasses the cache. A statement that is not a read (a write, DDL, a session change)
// is no read at all and has no reason.
const (
	bypassNone BypassReason = iota
	// BypassNoRule: the read is cacheable, but no [Rule] matches it (or the cache has no rules).
	BypassNoRule
	// BypassRuleDisabled: the first rule that matches the read has Disabled set.
	BypassRuleDisabled
	// BypassNotCacheable: package keying judged the statement not cacheable whatever the rules say:
	// it calls a non-deterministic function (now(), random(), nextval() …), locks rows (FOR UPDATE),
	// reads a system catalog, has a writable CTE, or holds several statements. ReadEvent.Detail gives
	// keying's reason.
	BypassNotCacheable
	// BypassTransaction: the read runs inside a transaction.
	BypassTransaction
	// BypassSessionChanged: an earlier statement on the connection changed its session in a way that
	// can change results (SET search_path, set_config, a temporary table, DO, CALL …), and no reset has
	// undone it yet (see the package doc, "What gets cached and when").
	BypassSessionChanged
	// BypassContext: the caller asked for it with [WithBypass].
	BypassContext
	// BypassArgument: an argument has a type the cache cannot hash, or a row rule's key value cannot be
	// put in canonical form.
	BypassArgument
	// BypassStore: the store may not be used for this read: the circuit breaker is open, an
	// invalidation of a table the read depends on is waiting for the store, or the lookup (or reading
	// the generation tokens a fill records) failed or timed out. Concurrent identical reads still
	// share one query.
	BypassStore
	// BypassNotShared: the read joined another caller's load of the same entry, and that load's result
	// could not be shared (too many rows or bytes, not encodable, or its callers gave up): this read
	// queried the database alone.
	BypassNotShared
	// BypassAnalysisFailed: analysing the statement or its arguments panicked. This is a defect of
	// this package, logged once at Warn; the read went to the database.
	BypassAnalysisFailed
	// BypassSessionDiffers: the connection's role or result-affecting settings, read when it was
	// opened, differ from those of the cache's first connection.
	BypassSessionDiffers
	// BypassOtherDatabase: the connection reached another database than the cache's first connection.
	BypassOtherDatabase
	// BypassUserFunction: the read calls a user-defined function that is not known to be pure (not
	// IMMUTABLE in PostgreSQL, not registered as deterministic in SQLite) and its rule does not list
	// the tables it reads in depends_on. ReadEvent.Detail names the function.
	BypassUserFunction
	// BypassView: the read depends on a view whose own query is not cacheable (it calls now(), reads a
	// catalog …), or a row rule's statement reads a view. ReadEvent.Detail says which.
	BypassView
	// BypassCatalogUnknown: the database's catalog (foreign keys, views, triggers, functions) could not
	// be loaded, so what the read depends on is unknown.
	BypassCatalogUnknown
	numBypassReasons
)

var bypassNames = [numBypassReasons]string{
	bypassNone:           "none",
	BypassNoRule:         "no rule",
	BypassRuleDisabled:   "rule disabled",
	BypassNotCacheable:   "not cacheable",
	BypassTransaction:    "transaction",
	BypassSessionChanged: "session changed",
	BypassContext:        "context",
	BypassArgument:       "argument not hashable",
	BypassStore:          "store unavailable",
	BypassNotShared:      "result not shareable",
	BypassAnalysisFailed: "analysis failed",
	BypassSessionDiffers: "session differs",
	BypassOtherDatabase:  "another database",
	BypassUserFunction:   "user-defined function",
	BypassView:           "view not cacheable",
	BypassCatalogUnknown: "catalog unknown",
}

// String returns the reason's stable name, such as "no rule".
func (r BypassReason) String() string {
	if r < numBypassReasons {
		return bypassNames[r]
	}
	return "BypassReason(" + strconv.Itoa(int(r)) + ")"
}

// StaleReason says under which of its rule's stale windows a copy past its TTL was served. The zero
// StaleReason means none: the read was not served stale. String returns a short stable name.
type StaleReason uint8

// Reasons a copy past its TTL is served.
const (
	staleNone StaleReason = iota
	// StaleRevalidate: the copy is inside the rule's stale_while_revalidate window; a background
	// refresh replaces it.
	StaleRevalidate
	// StaleIfError: the database failed (or the read's own load did), and the copy is inside the
	// rule's stale_if_error window.
	StaleIfError
	// StaleLockWait: another process held the entry's fill lease for the rule's whole lock_wait, and
	// the copy is inside one of the rule's stale windows.
	StaleLockWait
	numStaleReasons
)

var staleNames = [numStaleReasons]string{
	staleNone:       "none",
	StaleRevalidate: "revalidate",
	StaleIfError:    "database error",
	StaleLockWait:   "lock wait",
}

// String returns the reason's stable name, such as "revalidate".
func (r StaleReason) String() string {
	if r < numStaleReasons {
		return staleNames[r]
	}
	return "StaleReason(" + strconv.Itoa(int(r)) + ")"
}
