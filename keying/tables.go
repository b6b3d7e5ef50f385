package keying

import "strings"

// analysis classifies one statement (the tokens between semicolons) and
// collects the tables it reads and writes.
type analysis struct {
	toks  []token
	match []int // index of the matching bracket for "(" and "[", else -1

	kind      Kind
	allTables bool
	reads     []string
	writes    []string

	catalog     bool   // reads a system catalog
	writableCTE bool   // a WITH body modifies data
	selectInto  bool   // SELECT … INTO creates a table
	unsure      bool   // a FROM list held something not understood
	unbalanced  bool   // brackets do not pair up
	special     string // a reason fixed by the command itself
	session     bool   // creates a session-local object (CREATE TEMP …)
}

func newAnalysis(toks []token) *analysis {
	a := &analysis{toks: toks, match: make([]int, len(toks))}
	var stack []int
	for i, t := range toks {
		a.match[i] = -1
		switch {
		case t.isPunct("(") || t.isPunct("["):
			stack = append(stack, i)
		case t.isPunct(")") || t.isPunct("]"):
			if len(stack) == 0 {
				a.unbalanced = true
				continue
			}
			open := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if (t.text == ")") != (toks[open].text == "(") {
				a.unbalanced = true
			}
			a.match[open], a.match[i] = i, open
		}
	}
	if len(stack) > 0 {
		a.unbalanced = true
	}
	return a
}

// word returns the keyword at i, or "" when toks[i] is not an unquoted word.
func (a *analysis) word(i int) string {
	if i >= 0 && i < len(a.toks) && a.toks[i].kind == tWord {
		return a.toks[i].text
	}
	return ""
}

func (a *analysis) punct(i int, p string) bool {
	return i >= 0 && i < len(a.toks) && a.toks[i].isPunct(p)
}

// close returns the index of the bracket matching the one at i, or the end
// of the tokens when it has none.
func (a *analysis) close(i int) int {
	if j := a.match[i]; j > i {
		return j
	}
	return len(a.toks)
}

// skipWords advances i past any of the given words.
func (a *analysis) skipWords(i int, words ...string) int {
	for i < len(a.toks) {
		w := a.word(i)
		if w == "" || !contains(words, w) {
			return i
		}
		i++
	}
	return i
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// qualified reads a possibly qualified name (a.b.c) at i. It returns its
// parts, unquoted and lower-cased, and the index after it.
func (a *analysis) qualified(i, hi int) ([]string, int) {
	var parts []string
	for i < hi && a.toks[i].isName() {
		parts = append(parts, unquote(a.toks[i]))
		if i+2 < hi && a.punct(i+1, ".") && a.toks[i+2].isName() {
			i += 2
			continue
		}
		return parts, i + 1
	}
	return parts, i
}

// unquote returns the lower-cased name a word or quoted identifier stands for.
func unquote(t token) string {
	s := t.text
	if t.kind != tIdent {
		return strings.ToLower(s)
	}
	switch {
	case strings.HasPrefix(s, "U&") || strings.HasPrefix(s, "u&"):
		s = s[2:] // escapes inside are left as they are
		fallthrough
	case s[0] == '"' || s[0] == '`':
		q := s[:1]
		s = strings.ReplaceAll(strings.TrimSuffix(s[1:], q), q+q, q)
	case s[0] == '[':
		s = strings.TrimSuffix(s[1:], "]")
	}
	return strings.ToLower(s)
}

// catalogSchemas are schemas whose tables describe the database itself.
var catalogSchemas = setOf("information_schema", "pg_catalog", "performance_schema")

func isCatalog(parts []string) bool {
	name := parts[len(parts)-1]
	// pragma_* are SQLite's table-valued pragmas, which may be named without arguments:
	// SELECT file FROM pragma_database_list.
	if strings.HasPrefix(name, "pg_") || strings.HasPrefix(name, "sqlite_") || strings.HasPrefix(name, "pragma_") {
		return true
	}
	for _, p := range parts[:len(parts)-1] {
		if catalogSchemas[p] {
			return true
		}
	}
	return false
}

// addRead records a table read, unless it names a CTE in scope.
func (a *analysis) addRead(parts []string, scope []string) {
	if len(parts) == 0 {
		return
	}
	if isCatalog(parts) {
		a.catalog = true
	}
	name := parts[len(parts)-1]
	if len(parts) == 1 && contains(scope, name) {
		return
	}
	a.reads = append(a.reads, name)
}

func (a *analysis) addWrite(parts []string) {
	if len(parts) > 0 {
		a.writes = append(a.writes, parts[len(parts)-1])
	}
}

// fromEnders end a FROM list: after them a comma no longer separates tables.
var fromEnders = setOf("where", "group", "having", "order", "limit", "offset", "fetch",
	"window", "union", "intersect", "except", "returning", "for", "into", "set", "values",
	"do", "conflict", "qualify", "select")

// scan walks toks[lo:hi] at one nesting level and records the tables that
// FROM and JOIN lists name. Brackets are scanned recursively. inFrom says
// whether a FROM list is already open (after DELETE … USING, say).
func (a *analysis) scan(lo, hi int, scope []string, inFrom bool) {
	for i := lo; i < hi; {
		t := a.toks[i]
		switch {
		case t.isPunct("(") || t.isPunct("["):
			j := min(a.close(i), hi)
			a.sub(i+1, j, scope, t.text == "(" && i > lo && isCallee(a.toks[i-1]))
			i = j + 1
			continue
		case t.isPunct(",") && inFrom:
			i = a.fromItem(i+1, hi, scope)
			continue
		case t.kind != tWord:
			i++
			continue
		}
		switch w := t.text; {
		case w == "from" && !(a.word(i-1) == "distinct" && i-2 >= lo && (a.word(i-2) == "is" || a.word(i-2) == "not")):
			inFrom = true
			i = a.fromItem(i+1, hi, scope)
			continue
		case w == "join" || w == "straight_join":
			inFrom = true
			i = a.fromItem(i+1, hi, scope)
			continue
		case w == "table" && (i == lo || setOps[a.word(i-1)]):
			i = a.fromItem(i+1, hi, scope)
			continue
		case w == "with" && a.startsCTE(i+1, hi):
			a.with(i, hi, scope)
			return
		case fromEnders[w]:
			inFrom = false
		}
		i++
	}
}

var setOps = setOf("union", "intersect", "except", "all", "distinct")

// isCallee reports whether t, followed by "(", is a function name.
func isCallee(t token) bool {
	return t.kind == tIdent || t.kind == tWord && !keywords[t.text]
}

// sub scans the inside of a bracket. In a function call's arguments FROM
// is a keyword (EXTRACT(x FROM y), SUBSTRING(s FROM 2)), not a table list,
// unless the argument is itself a query.
func (a *analysis) sub(lo, hi int, scope []string, call bool) {
	if lo >= hi {
		return
	}
	switch a.word(lo) {
	case "with":
		a.with(lo, hi, scope)
	case "insert", "update", "delete", "merge", "replace":
		a.writableCTE = true
		a.dml(lo, hi, scope)
	case "select", "values", "table":
		a.scan(lo, hi, scope, false)
	default:
		if call {
			a.scanArgs(lo, hi, scope)
			return
		}
		a.scan(lo, hi, scope, false)
	}
}

// scanArgs scans function arguments, only looking into nested brackets.
func (a *analysis) scanArgs(lo, hi int, scope []string) {
	for i := lo; i < hi; i++ {
		if t := a.toks[i]; t.isPunct("(") || t.isPunct("[") {
			j := min(a.close(i), hi)
			a.sub(i+1, j, scope, t.text == "(" && i > lo && isCallee(a.toks[i-1]))
			i = j
		}
	}
}

// fromItem reads one FROM item at i: a table, a function call or a
// bracketed query or join, with its alias. It returns the index after it.
func (a *analysis) fromItem(i, hi int, scope []string) int {
	i = a.skipWords(i, "lateral", "only")
	if i >= hi {
		a.unsure = true
		return i
	}
	t := a.toks[i]
	switch {
	case t.isPunct("("):
		j := min(a.close(i), hi)
		switch a.word(i + 1) {
		case "select", "with", "values", "table", "insert", "update", "delete", "merge":
			a.sub(i+1, j, scope, false)
		default:
			if a.punct(i+1, "(") {
				a.sub(i+1, j, scope, false)
			} else {
				k := a.fromItem(i+1, j, scope) // a bracketed join: (a JOIN b ON …)
				a.scan(k, j, scope, true)
			}
		}
		return a.skipAlias(j+1, hi)
	case t.isName():
		parts, k := a.qualified(i, hi)
		if a.punct(k, "(") { // a function: generate_series(…), json_each(…)
			if strings.HasPrefix(parts[len(parts)-1], "pragma_") {
				a.catalog = true
			}
			j := min(a.close(k), hi)
			a.sub(k+1, j, scope, true)
			return a.skipAlias(j+1, hi)
		}
		a.addRead(parts, scope)
		return a.skipAlias(k, hi)
	}
	a.unsure = true
	return i
}

// skipAlias skips "[AS] alias [(columns)]" at i.
func (a *analysis) skipAlias(i, hi int) int {
	if a.word(i) == "as" {
		i++
		if i < hi && a.toks[i].isName() {
			i++
		}
	} else if i < hi && (a.toks[i].kind == tIdent || a.toks[i].kind == tWord && !keywords[a.toks[i].text]) {
		i++
	}
	if i < hi && a.punct(i, "(") {
		i = min(a.close(i), hi) + 1
	}
	return i
}
