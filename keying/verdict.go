package keying

import "strings"

// volatile lists functions whose result depends on time, chance, the
// session or the connection, or which have side effects, so a cached
// result would be wrong. pg_sleep is deliberately absent: its result is
// deterministic.
var volatile = setOf(
	"now", "current_timestamp", "current_date", "current_time", "localtime", "localtimestamp",
	"clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
	"random", "setseed", "nextval", "currval", "lastval", "setval", "gen_random_uuid",
	"uuid", "uuidv4", "uuidv7", "pg_backend_pid", "current_setting", "set_config", "pg_notify",
	"pg_current_xact_id", "pg_postmaster_start_time", "pg_conf_load_time",
	"pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
	"randomblob", "changes", "total_changes", "last_insert_rowid",
	"rand", "uuid_short", "sysdate", "utc_timestamp", "unix_timestamp", "last_insert_id",
)

// volatilePrefixes extends volatile to families of functions.
var volatilePrefixes = []string{
	"uuid_generate_", "txid_", "inet_client_", "pg_advisory", "pg_try_advisory", "lo_",
	"pg_stat_reset",
}

// timeKeywords are volatile even without brackets.
var timeKeywords = setOf("current_timestamp", "current_date", "current_time", "localtime", "localtimestamp")

// nowLiterals are date/time input strings that PostgreSQL and SQLite
// evaluate at run time: date('now'), 'now'::timestamp, 'today'::date.
var nowLiterals = setOf("now", "today", "tomorrow", "yesterday")

// reason returns why the statement is not cacheable, or "".
func (a *analysis) reason() string {
	switch {
	case a.unbalanced:
		return reasonUnbalanced
	case a.writableCTE:
		return reasonWritableCTE
	case a.selectInto:
		return reasonSelectInto
	case a.special != "":
		return a.special
	case a.kind != KindRead:
		return reasonNotRead
	case a.catalog:
		return reasonCatalog
	}
	if r := a.tokenReason(); r != "" {
		return r
	}
	if a.unsure {
		return reasonUnsure
	}
	return ""
}

// tokenReason finds the first volatile function, locking clause or
// run-time date literal in the statement.
func (a *analysis) tokenReason() string {
	for i, t := range a.toks {
		switch t.kind {
		case tString:
			if nowLiterals[strings.ToLower(strings.TrimSpace(strings.Trim(t.text, "'")))] {
				return "uses " + t.text
			}
		case tWord:
			if r := a.wordReason(i); r != "" {
				return r
			}
		case tIdent: // "now"() calls now()
			if name := unquote(t); a.punct(i+1, "(") && isVolatile(name) {
				return "calls " + name + "()"
			}
		}
	}
	return ""
}

func (a *analysis) wordReason(i int) string {
	w := a.toks[i].text
	if a.punct(i-1, ".") && !a.punct(i+1, "(") {
		return "" // a column: t.localtime
	}
	switch {
	case a.punct(i+1, "(") && isVolatile(w):
		return "calls " + w + "()"
	case timeKeywords[w]:
		return "calls " + w
	case w == "for":
		switch a.word(i + 1) {
		case "update":
			return "FOR UPDATE"
		case "share":
			return "FOR SHARE"
		case "no":
			return "FOR NO KEY UPDATE"
		case "key":
			return "FOR KEY SHARE"
		}
	}
	return ""
}

func isVolatile(name string) bool {
	if volatile[name] {
		return true
	}
	for _, p := range volatilePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
