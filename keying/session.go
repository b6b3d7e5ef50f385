package keying

import "strings"

// SessionOp is one kind of change a statement makes to its session's state.
type SessionOp uint8

// The changes [Statement.Session] reports. A connection whose settings are all back at their
// defaults, with nothing unknown done to it, returns what any other connection of the pool returns.
const (
	// SessionSet changes Setting for the rest of the session (SET, set_config(…, false),
	// PRAGMA name = value, CREATE TEMP …).
	SessionSet SessionOp = iota + 1
	// SessionLocal changes Setting until the end of the current transaction (SET LOCAL,
	// set_config(…, true)); outside a transaction it changes nothing.
	SessionLocal
	// SessionReset returns Setting to its default: RESET name, SET name TO DEFAULT, RESET ROLE,
	// DISCARD TEMP (Setting "temp").
	SessionReset
	// SessionResetAll is RESET ALL: every setting returns to its default, except role and
	// session_authorization, which PostgreSQL leaves alone, and temporary objects.
	SessionResetAll
	// SessionDiscardAll is DISCARD ALL: the session returns to its state at connection.
	SessionDiscardAll
	// SessionUnknown changes the session in a way the text does not show (DO, CALL, EXECUTE,
	// set_config with a computed name, USE, LOAD, ATTACH, …): only DISCARD ALL undoes it.
	SessionUnknown
)

var sessionOpNames = [...]string{
	SessionSet:        "set",
	SessionLocal:      "local",
	SessionReset:      "reset",
	SessionResetAll:   "reset all",
	SessionDiscardAll: "discard all",
	SessionUnknown:    "unknown",
}

// String returns the lower-case name of op, such as "set" or "reset all".
func (op SessionOp) String() string {
	if int(op) < len(sessionOpNames) && sessionOpNames[op] != "" {
		return sessionOpNames[op]
	}
	return "op(" + itoa(int(op)) + ")"
}

// SessionChange is one change a statement makes to the state of its session that can change what
// later reads on the connection return.
type SessionChange struct {
	Op SessionOp
	// Setting names what SessionSet, SessionLocal and SessionReset change, lower-cased: a PostgreSQL
	// parameter ("search_path", "timezone", "role", "session_authorization", "myapp.tenant"), "temp"
	// for temporary objects, or "pragma " and the name for a SQLite pragma.
	Setting string
}

// String renders c as "set search_path", "reset all" or "unknown".
func (c SessionChange) String() string {
	if c.Setting == "" {
		return c.Op.String()
	}
	return c.Op.String() + " " + c.Setting
}

// harmlessSettings cannot change the rows any read returns, nor their order: timeouts, names,
// logging, durability and locking of writes. Statements that change only them report no change.
var harmlessSettings = setOf(
	// PostgreSQL
	"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
	"idle_session_timeout", "transaction_timeout", "application_name", "client_min_messages",
	"synchronous_commit", "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
	"tcp_user_timeout", "log_statement", "log_min_duration_statement", "log_min_messages",
	"log_duration",
	// SQLite: enforcement and durability of writes, caches, locking
	"pragma foreign_keys", "pragma defer_foreign_keys", "pragma busy_timeout", "pragma journal_mode",
	"pragma synchronous", "pragma cache_size", "pragma cache_spill", "pragma mmap_size",
	"pragma temp_store", "pragma wal_autocheckpoint", "pragma wal_checkpoint", "pragma optimize",
	"pragma shrink_memory", "pragma analysis_limit", "pragma threads", "pragma soft_heap_limit",
	"pragma hard_heap_limit", "pragma locking_mode", "pragma query_only", "pragma incremental_vacuum",
	"pragma auto_vacuum", "pragma page_size", "pragma secure_delete", "pragma cell_size_check",
	"pragma checkpoint_fullfsync", "pragma fullfsync", "pragma ignore_check_constraints",
)

// quietCommands change the session without changing what any later read returns: notifications,
// prepared statements, cursors (a FETCH is never cached), locks and checkpoints.
var quietCommands = setOf("listen", "unlisten", "notify", "prepare", "deallocate", "declare",
	"fetch", "move", "close", "lock", "checkpoint")

// sessionChanges reports how the statement analysed by a changes its session, in order.
func (a *analysis) sessionChanges() []SessionChange {
	var out []SessionChange
	add := func(op SessionOp, setting string) {
		if (op == SessionSet || op == SessionLocal || op == SessionReset) && harmlessSettings[setting] {
			return
		}
		out = append(out, SessionChange{Op: op, Setting: setting})
	}
	first := a.word(0)
	switch {
	case a.kind == KindOther && !a.unbalanced && (first == "commit" || first == "end" ||
		first == "rollback" || first == "abort"):
		// COMMIT PREPARED, AND CHAIN: transaction control
	case a.kind == KindOther && first == "explain" && !a.hasWord("execute") && !a.hasWord("temp") &&
		!a.hasWord("temporary"):
		// EXPLAIN runs its statement only with ANALYZE, and that statement's text is scanned below;
		// EXPLAIN ANALYZE EXECUTE and CREATE TEMP TABLE … AS count
	case a.kind == KindOther:
		add(SessionUnknown, "") // DO, CALL, EXECUTE, text not understood
	case a.kind == KindSession:
		switch first {
		case "set":
			a.setCommand(add)
		case "reset":
			a.resetCommand(add)
		case "discard":
			switch a.word(1) {
			case "all":
				add(SessionDiscardAll, "")
			case "temp", "temporary":
				add(SessionReset, "temp")
			case "plans", "sequences":
			default:
				add(SessionUnknown, "")
			}
		case "pragma":
			a.pragmaChange(add)
		default:
			if !quietCommands[first] {
				add(SessionUnknown, "") // USE, LOAD, ATTACH, DETACH
			}
		}
	}
	if a.session || a.kind == KindDDL && (a.hasWord("pg_temp") || a.selectInto && a.intoTemp()) {
		add(SessionSet, "temp")
	}
	a.setConfigCalls(add)
	return out
}

// settingName reads a setting name at i: a word or quoted identifier, possibly qualified
// (myapp.tenant). It returns the lower-cased name and the index after it, or "" when there is none.
func (a *analysis) settingName(i int) (string, int) {
	var parts []string
	for i < len(a.toks) && a.toks[i].isName() {
		t := a.toks[i]
		if t.kind == tIdent {
			parts = append(parts, strings.ToLower(strings.Trim(t.text, "\"`[]")))
		} else {
			parts = append(parts, t.text)
		}
		i++
		if !a.punct(i, ".") {
			break
		}
		i++
	}
	return strings.Join(parts, "."), i
}

// setCommand reads SET [SESSION | LOCAL] name {TO | =} value, and the special forms
// (TIME ZONE, ROLE, SESSION AUTHORIZATION, SCHEMA, NAMES, XML OPTION, TRANSACTION).
func (a *analysis) setCommand(add func(SessionOp, string)) {
	op, i := SessionSet, 1
	switch a.word(1) {
	case "local":
		op, i = SessionLocal, 2
	case "session":
		switch a.word(2) {
		case "characteristics": // of later transactions: isolation and access mode only
			return
		case "authorization":
		default:
			i = 2
		}
	case "transaction", "constraints": // this transaction only
		return
	}
	var name string
	k := i
	switch w := a.word(i); {
	case w == "time" && a.word(i+1) == "zone":
		name, k = "timezone", i+2
	case w == "session" && a.word(i+1) == "authorization":
		name, k = "session_authorization", i+2
	case w == "xml" && a.word(i+1) == "option":
		name, k = "xmloption", i+2
	case w == "schema":
		name, k = "search_path", i+1
	case w == "names":
		name, k = "client_encoding", i+1
	case w == "role":
		name, k = "role", i+1
	default:
		name, k = a.settingName(i)
		if name == "" {
			add(SessionUnknown, "") // SET @var = … (MySQL), or text not understood
			return
		}
		if k < len(a.toks) && (a.word(k) == "to" || a.toks[k].is(tOp, "=") || a.toks[k].is(tOp, ":=")) {
			k++
		}
	}
	for j := k; j < len(a.toks); j++ {
		if a.toks[j].is(tOp, "=") || a.toks[j].is(tOp, ":=") {
			add(SessionUnknown, "") // several assignments (MySQL)
			return
		}
	}
	if k == len(a.toks)-1 && (a.word(k) == "default" || name == "timezone" && a.word(k) == "local") {
		if op == SessionLocal {
			return // back to the session's value at the end of the transaction anyway
		}
		op = SessionReset
	}
	add(op, name)
}

// resetCommand reads RESET name, RESET ALL, RESET ROLE, RESET TIME ZONE and
// RESET SESSION AUTHORIZATION.
func (a *analysis) resetCommand(add func(SessionOp, string)) {
	switch {
	case a.word(1) == "all" && len(a.toks) == 2:
		add(SessionResetAll, "")
	case a.word(1) == "time" && a.word(2) == "zone":
		add(SessionReset, "timezone")
	case a.word(1) == "session" && a.word(2) == "authorization":
		add(SessionReset, "session_authorization")
	default:
		if name, k := a.settingName(1); name != "" && k == len(a.toks) {
			add(SessionReset, name)
		} else {
			add(SessionUnknown, "")
		}
	}
}

// pragmaChange reads a SQLite PRAGMA that changes a setting (pragma() classified it KindSession).
func (a *analysis) pragmaChange(add func(SessionOp, string)) {
	i := 1
	if a.punct(i+1, ".") { // schema.name
		i += 2
	}
	name := ""
	if i < len(a.toks) && a.toks[i].isName() {
		name, _ = a.settingName(i)
	}
	if name == "" {
		add(SessionUnknown, "")
		return
	}
	add(SessionSet, "pragma "+name)
}

// intoTemp reports SELECT … INTO TEMP[ORARY] t.
func (a *analysis) intoTemp() bool {
	for i := range a.toks {
		if a.word(i) == "into" {
			w := a.word(i + 1)
			return w == "temp" || w == "temporary"
		}
	}
	return false
}

// isSetConfig reports whether toks[i] names set_config: unquoted in any case, quoted, or schema
// qualified (the qualifier is a separate token). A U&"…" identifier may spell it with escapes, so it
// counts too.
func (a *analysis) isSetConfig(i int) bool {
	t := a.toks[i]
	switch t.kind {
	case tWord:
		return t.text == "set_config"
	case tIdent:
		if len(t.text) > 1 && (t.text[0] == 'u' || t.text[0] == 'U') && t.text[1] == '&' {
			return true
		}
		return strings.EqualFold(strings.Trim(t.text, "\"`[]"), "set_config")
	}
	return false
}

// setConfigCalls adds the change of every set_config call: set_config('name', value, false|true)
// with a literal name and flag sets that setting; any other call is an unknown change.
func (a *analysis) setConfigCalls(add func(SessionOp, string)) {
	for i := range a.toks {
		if !a.isSetConfig(i) || !a.punct(i+1, "(") {
			continue
		}
		end := a.close(i + 1)
		args := a.topArgs(i+2, end)
		if len(args) != 3 || args[0][1]-args[0][0] != 1 || args[2][1]-args[2][0] != 1 {
			add(SessionUnknown, "")
			continue
		}
		name, ok := plainString(a.toks[args[0][0]].text)
		flag := a.word(args[2][0])
		if !ok || flag != "false" && flag != "true" {
			add(SessionUnknown, "")
			continue
		}
		if flag == "true" {
			add(SessionLocal, strings.ToLower(name))
		} else {
			add(SessionSet, strings.ToLower(name))
		}
	}
}

// topArgs splits toks[lo:hi] at top-level commas into [start, end) index pairs.
func (a *analysis) topArgs(lo, hi int) [][2]int {
	var out [][2]int
	start := lo
	for i := lo; i < hi; i++ {
		switch {
		case a.punct(i, "(") || a.punct(i, "["):
			i = a.close(i)
		case a.punct(i, ","):
			out = append(out, [2]int{start, i})
			start = i + 1
		}
	}
	if hi > start {
		out = append(out, [2]int{start, hi})
	}
	return out
}

// plainString returns the value of a '…' literal without escapes other than a doubled quote.
func plainString(text string) (string, bool) {
	if len(text) < 2 || text[0] != '\'' || text[len(text)-1] != '\'' {
		return "", false
	}
	return strings.ReplaceAll(text[1:len(text)-1], "''", "'"), true
}
