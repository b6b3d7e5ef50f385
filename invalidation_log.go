package cachedsql

import (
	"strings"
	"unicode/utf8"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// LogEntry describes an invalidation for the store's log of recent invalidations (see
// [keying.Layout.Log]), for strategies.Invalidation: query is the write's statement text ("COMMIT" for
// a transaction, "" for a call of [Invalidate], a cause starting with ownCause for what the cache does
// of its own accord) and tables its tables (nil: the whole database, logged as "*"); rows counts the
// rows invalidated one by one.
func (e *engine) LogEntry(query string, tables []string, rows int) store.LogEntry {
	if tables == nil {
		tables = []string{"*"}
	}
	return store.LogEntry{Time: e.now().UTC(), Cause: e.logCause(query), Tables: tables, Rows: rows,
		Text: logText(query)}
}

// maxLogText bounds the statement text an invalidation log entry holds.
const maxLogText = 500

// logText is the literal-free text of the write query for the invalidation log ("" for a COMMIT, a
// delivery of pending tokens, or a call), cut to maxLogText bytes.
func logText(query string) string {
	if query == "" || query == "COMMIT" || strings.HasPrefix(query, ownCause) {
		return ""
	}
	t := keying.DigestOf(query).Text
	if len(t) > maxLogText {
		cut := maxLogText
		for cut > 0 && !utf8.RuneStart(t[cut]) {
			cut--
		}
		t = t[:cut] + "…"
	}
	return t
}

// adminCause is the cause the invalidation log records for [Admin.InvalidateTables].
const adminCause = "cachedsql.Admin"

// ownCause starts the cause of every invalidation the cache makes of its own accord (such as
// strategies.CauseLostWrites): no statement starts with it.
const ownCause = "cachedsql."

// logCause names the statement behind an invalidation without its text: a statement may hold
// literal values (a password hash in an UPDATE) that must not be copied into the shared store. It is
// the statement's first word and its sqlc name, or its fingerprint, which `cachedsql explain` prints.
func (e *engine) logCause(query string) string {
	switch {
	case query == "":
		return "cachedsql.Invalidate"
	case query == "COMMIT", strings.HasPrefix(query, ownCause):
		return query
	}
	st := e.plans.get(query).st
	verb, _, _ := strings.Cut(st.Normalized, " ")
	if st.Name != "" {
		return verb + " " + st.Name
	}
	return verb + " (fingerprint " + st.Fingerprint + ")"
}
