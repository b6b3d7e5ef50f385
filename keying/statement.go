package keying

import "strings"

// statement classifies the whole statement held by a.toks.
func (a *analysis) statement() {
	hi := len(a.toks)
	if a.unbalanced {
		a.kind, a.allTables = KindOther, true
		return
	}
	first := 0
	for first < hi && a.toks[first].isPunct("(") {
		first++
	}
	switch w := a.word(first); w {
	case "select", "values", "table":
		a.kind = KindRead
		a.scan(0, hi, nil, false)
		a.checkInto(first)
	case "with":
		if first > 0 {
			a.kind = KindRead
			a.scan(0, hi, nil, false)
		} else {
			a.kind = a.with(0, hi, nil)
		}
		a.checkInto(first)
	case "insert", "replace", "upsert", "update", "delete", "merge":
		a.kind = KindWrite
		a.dml(0, hi, nil)
	default:
		if first > 0 {
			a.kind, a.allTables = KindOther, true
			return
		}
		a.command(w)
	}
}

// command classifies statements that are neither queries nor DML.
func (a *analysis) command(w string) {
	switch w {
	case "truncate":
		a.kind = KindWrite
		a.nameList(a.skipWords(1, "table", "only"))
		a.allTables = a.hasWord("cascade")
	case "copy":
		a.copy()
	case "create", "alter", "drop", "comment", "grant", "revoke", "reindex", "vacuum",
		"analyze", "analyse", "cluster", "refresh", "rename", "security", "import":
		a.kind, a.allTables = KindDDL, true
		a.ddl(w)
	case "show":
		a.kind, a.catalog = KindRead, true
	case "pragma":
		a.pragma()
	case "listen", "unlisten", "notify":
		a.kind, a.special = KindSession, reasonListen
	case "set", "reset", "discard", "use", "load", "lock", "prepare", "deallocate",
		"declare", "fetch", "move", "close", "attach", "detach", "checkpoint":
		a.kind = KindSession
	case "begin", "start":
		a.kind = KindBegin
		if w == "start" && a.word(1) != "transaction" {
			a.kind = KindOther
		}
	case "commit", "end", "rollback", "abort":
		a.endTx(w)
	case "savepoint", "release":
		a.kind = KindSavepoint
	default: // explain, do, call, execute, …
		a.kind = KindOther
	}
	if a.kind == KindOther {
		a.allTables = true
	}
}

// callsSetConfig reports a call of set_config, which changes a session setting from inside a query.
func (a *analysis) callsSetConfig() bool {
	for i := range a.toks {
		if a.isSetConfig(i) && a.punct(i+1, "(") {
			return true
		}
	}
	return false
}

// readOnlyPragmas take an argument and only report: PRAGMA table_info(t) reads the catalog.
var readOnlyPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "foreign_key_check": true, "integrity_check": true,
	"quick_check": true, "database_list": true, "collation_list": true, "function_list": true,
	"module_list": true, "pragma_list": true, "compile_options": true,
}

// pragma classifies a SQLite PRAGMA. "PRAGMA name = value" and "PRAGMA name(value)" change the
// connection (KindSession), except the pragmas that only report; "PRAGMA name" reads a setting. Both
// reads are catalog reads, never cached; only a change makes the connection bypass the cache for good
// (GORM's SQLite migrator reads "PRAGMA foreign_keys" on every migration).
func (a *analysis) pragma() {
	a.kind, a.special = KindSession, reasonCatalog
	i := 1
	if a.punct(i+1, ".") { // schema.name
		i += 2
	}
	name := a.word(i)
	if name == "" && i < len(a.toks) && a.toks[i].isName() {
		name = strings.ToLower(a.toks[i].text)
	}
	switch {
	case i+1 >= len(a.toks) || a.punct(i+1, ";"):
		a.kind, a.catalog = KindRead, true
	case a.punct(i+1, "(") && readOnlyPragmas[name]:
		a.kind, a.catalog = KindRead, true
	}
}

// endTx classifies COMMIT, END, ROLLBACK and ABORT. ROLLBACK TO is a
// savepoint operation; the two-phase forms (COMMIT PREPARED) and AND CHAIN,
// which starts a new transaction at once, are KindOther: the transaction
// state they leave cannot be modelled by a commit or a rollback.
func (a *analysis) endTx(w string) {
	switch {
	case a.word(1) == "prepared" || a.hasWord("chain") && !a.hasWord("no"):
		a.kind = KindOther
	case (w == "rollback" || w == "abort") && a.word(a.skipWords(1, "transaction", "work")) == "to":
		a.kind = KindSavepoint
	case w == "rollback" || w == "abort":
		a.kind = KindRollback
	default:
		a.kind = KindCommit
	}
}

func (a *analysis) hasWord(w string) bool {
	for i := range a.toks {
		if a.word(i) == w {
			return true
		}
	}
	return false
}

// nameList records the comma-separated table names at i as writes.
func (a *analysis) nameList(i int) int {
	for i < len(a.toks) {
		parts, k := a.qualified(a.skipWords(i, "only"), len(a.toks))
		if len(parts) == 0 {
			return k
		}
		a.addWrite(parts)
		if k < len(a.toks) && a.toks[k].is(tOp, "*") {
			k++
		}
		if !a.punct(k, ",") {
			return k
		}
		i = k + 1
	}
	return i
}

// copy classifies COPY t FROM (a write) and COPY t TO or COPY (query) TO
// (a read that is never cached).
func (a *analysis) copy() {
	hi := len(a.toks)
	if a.punct(1, "(") {
		a.kind, a.special = KindRead, reasonCopy
		a.sub(2, a.close(1), nil, false)
		return
	}
	parts, k := a.qualified(1, hi)
	if a.punct(k, "(") {
		k = a.close(k) + 1
	}
	switch a.word(k) {
	case "from":
		a.kind = KindWrite
		a.addWrite(parts)
	case "to":
		a.kind, a.special = KindRead, reasonCopy
		a.addRead(parts, nil)
	default:
		a.kind = KindOther
	}
}

// checkInto finds SELECT … INTO at the top level: PostgreSQL creates a
// table from it, so the statement is DDL.
func (a *analysis) checkInto(first int) {
	if a.kind != KindRead {
		return
	}
	for i := first; i < len(a.toks); i++ {
		if a.punct(i, "(") || a.punct(i, "[") {
			i = a.close(i)
			continue
		}
		if a.word(i) != "into" {
			continue
		}
		a.kind, a.allTables, a.selectInto = KindDDL, true, true
		j := a.skipWords(i+1, "temporary", "temp", "unlogged", "table")
		parts, _ := a.qualified(j, len(a.toks))
		a.addWrite(parts)
		return
	}
}
