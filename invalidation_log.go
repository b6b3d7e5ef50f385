package cachedsql

import (
	"strings"

	"github.com/cachedsql/cachedsql/internal/store"
)

// logEntry describes an invalidation for the store's log of recent invalidations (see
// [keying.Layout.Log]): query is the write's statement text ("COMMIT" for a transaction, "" for a
// call of [Invalidate]) and tables its tables (nil: the whole database, logged as "*"); rows counts the
// rows invalidated one by one (rowCount).
func (e *engine) logEntry(query string, tables []string, rows int) store.LogEntry {
	if tables == nil {
		tables = []string{"*"}
	}
	return store.LogEntry{Time: e.now().UTC(), Cause: e.logCause(query), Tables: tables, Rows: rows}
}

// rowCount counts the row tokens among token keys.
func (e *engine) rowCount(keys []string) int {
	rows := 0
	for _, k := range keys {
		if strings.HasPrefix(k, e.rowTokenPrefix) {
			rows++
		}
	}
	return rows
}

// adminCause is the cause the invalidation log records for [Admin.InvalidateTables].
const adminCause = "cachedsql.Admin"

// logCause names the statement behind an invalidation without its text: a statement may hold
// literal values (a password hash in an UPDATE) that must not be copied into the shared store. It is
// the statement's first word and its sqlc name, or its fingerprint, which `cachedsql explain` prints.
func (e *engine) logCause(query string) string {
	switch query {
	case "":
		return "cachedsql.Invalidate"
	case "COMMIT":
		return query
	}
	st := e.plans.get(query).st
	verb, _, _ := strings.Cut(st.Normalized, " ")
	if st.Name != "" {
		return verb + " " + st.Name
	}
	return verb + " (fingerprint " + st.Fingerprint + ")"
}
