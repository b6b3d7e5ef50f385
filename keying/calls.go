package keying

// What a statement does beyond the tables it names: the functions it calls and the kinds of row
// changes a write makes. The wrapper matches these against the database's catalog (user-defined
// functions, foreign-key actions, triggers). They are computed from the text on demand, once per
// distinct statement by callers that memoize their analysis.

// Calls returns the functions st calls, lower-cased and without schema, sorted and deduplicated: every
// name followed by "(" that is not a keyword. It errs on the side of including names: a type with a
// modifier (varchar(20)), a table with a column list (INSERT INTO t (a)) or an alias with column names
// (AS t(a, b)) are listed too, so a caller that looks the names up among user-defined functions may
// see a false match, never miss a call. Functions called through operators are not seen.
func (st *Statement) Calls() []string {
	return callsIn(lex(st.Query).toks)
}

func callsIn(toks []token) []string {
	var out []string
	for i := 0; i+1 < len(toks); i++ {
		if toks[i+1].isPunct("(") && isCallee(toks[i]) {
			out = append(out, unquote(toks[i]))
		}
	}
	return sortedSet(out)
}

// RowOps reports the kinds of change a write may make to the rows of the tables it writes:
// deletes (DELETE, REPLACE, MERGE, TRUNCATE) and updates (UPDATE, upserts, MERGE). A plain INSERT
// reports neither. Foreign-key actions (ON DELETE CASCADE, ON UPDATE SET NULL, …) fire on these.
// It looks at the words of the whole text, so it may report a change the statement does not make,
// never miss one.
func (st *Statement) RowOps() (deletes, updates bool) {
	for _, t := range lex(st.Query).toks {
		if t.kind != tWord {
			continue
		}
		switch t.text {
		case "delete", "truncate":
			deletes = true
		case "update", "upsert":
			updates = true
		case "replace", "merge":
			deletes, updates = true, true
		}
	}
	return deletes, updates
}

// Statements splits text at its top-level semicolons and returns each statement's text, dropping
// empty ones.
func Statements(text string) []string {
	lx := lex(text)
	var out []string
	for _, seg := range splitSegments(lx.toks) {
		out = append(out, text[seg[0].start:seg[len(seg)-1].end])
	}
	return out
}

// DefinitionBody returns the part of a SQLite CREATE VIEW or CREATE TRIGGER text that holds its
// statements: for a view, the query after the first top-level AS; for a trigger, the statements
// between the first top-level BEGIN and the last END. It returns "" when it cannot find them.
func DefinitionBody(create string) string {
	toks := lex(create).toks
	a := newAnalysis(toks)
	if a.unbalanced {
		return ""
	}
	i := a.skipWords(1, "temp", "temporary")
	switch a.word(i) {
	case "view":
		for j := i + 1; j < len(toks); j++ {
			if a.punct(j, "(") {
				j = a.close(j)
				continue
			}
			if a.word(j) == "as" && j+1 < len(toks) {
				return create[toks[j+1].start:]
			}
		}
	case "trigger":
		for j := i + 1; j < len(toks); j++ {
			if a.punct(j, "(") {
				j = a.close(j)
				continue
			}
			if a.word(j) != "begin" {
				continue
			}
			for k := len(toks) - 1; k > j; k-- {
				if a.word(k) == "end" {
					if k == j+1 {
						return ""
					}
					return create[toks[j+1].start:toks[k-1].end]
				}
			}
			return ""
		}
	}
	return ""
}

// WriteTargets reads a procedural body (a PL/pgSQL trigger function, the statements of a SQLite
// trigger) and returns the tables its INSERT, UPDATE, DELETE, MERGE and REPLACE statements write and
// the functions it calls. ok is false when what it writes cannot be known from the text: dynamic SQL
// (EXECUTE), COPY, CALL, TRUNCATE, or a write whose target is not a plain name.
func WriteTargets(body string) (tables, calls []string, ok bool) {
	lx := lex(body)
	if lx.unterminated {
		return nil, nil, false
	}
	a := &analysis{toks: lx.toks}
	hi := len(lx.toks)
	target := func(j int) bool {
		parts, _ := a.qualified(j, hi)
		if len(parts) == 0 || keywords[a.word(j)] {
			return false
		}
		tables = append(tables, parts[len(parts)-1])
		return true
	}
	for i := range lx.toks {
		if a.punct(i+1, "(") || a.punct(i-1, ".") {
			continue // a function or a column: replace(…), new.update
		}
		prev := a.word(i - 1)
		switch a.word(i) {
		case "execute", "copy", "call", "truncate":
			return nil, nil, false
		case "insert", "merge":
			if !target(a.skipWords(i+1, "or", "replace", "ignore", "abort", "fail", "rollback", "into")) {
				return nil, nil, false
			}
		case "replace":
			if prev == "or" {
				continue // INSERT OR REPLACE, UPDATE OR REPLACE: the target follows
			}
			if !target(a.skipWords(i+1, "into")) {
				return nil, nil, false
			}
		case "delete":
			if !target(a.skipWords(i+1, "from", "only")) {
				return nil, nil, false
			}
		case "update":
			if prev == "for" || prev == "do" || prev == "key" {
				continue // FOR UPDATE, ON CONFLICT DO UPDATE, ON DUPLICATE KEY UPDATE
			}
			if !target(a.skipWords(i+1, "only", "or", "replace", "ignore", "abort", "fail", "rollback")) {
				return nil, nil, false
			}
		}
	}
	return sortedSet(tables), callsIn(lx.toks), true
}
