package keying

import (
	"strconv"
	"strings"
)

// rowParser reads the row-level shape of one statement: which columns its
// WHERE clause or VALUES list ties to placeholders and literals.
type rowParser struct {
	*analysis
	src      string // the text the tokens come from
	bareOrd  []int  // for each bare "?" token, its 1-based position among them; else 0
	onlyBare bool   // every placeholder of the text is a bare "?"

	// The table the statement is about, set by target.
	table []string // its name parts, lower-cased
	alias string   // its alias, lower-cased, or ""
}

func newRowParser(src string, seg []token) *rowParser {
	p := &rowParser{analysis: newAnalysis(seg), src: src, bareOrd: make([]int, len(seg)), onlyBare: true}
	n := 0
	for i, t := range seg {
		switch {
		case t.is(tParam, "?"):
			n++
			p.bareOrd[i] = n
		case t.kind == tParam || p.dollarName(i) != "":
			p.onlyBare = false
		}
	}
	return p
}

// dollarName returns the name of a $name placeholder whose "$" is at i (the
// lexer makes it an operator "$" followed by a word), or "".
func (p *rowParser) dollarName(i int) string {
	if i+1 >= len(p.toks) || !p.toks[i].is(tOp, "$") {
		return ""
	}
	if w := p.toks[i+1]; w.kind == tWord && w.start == p.toks[i].end {
		return p.src[w.start:w.end]
	}
	return ""
}

// nonColumns are words that cannot be a plain column: besides keywords, the
// SQL functions called without brackets, which PostgreSQL reads instead of a
// column of that name (WHERE user = 'bob' compares current_user).
var nonColumns = setOf("user", "current_user", "session_user", "system_user", "current_role",
	"current_catalog", "current_schema", "current_date", "current_time", "current_timestamp",
	"localtime", "localtimestamp", "true", "false", "null", "unknown", "case", "when", "then",
	"else", "end", "exists", "interval", "array", "row", "cast", "xor", "div", "mod", "binary",
	"collate", "escape", "glob", "regexp", "rlike", "match", "isnull", "notnull")

// columnName returns the column name a name token stands for: lower-cased
// when unquoted, byte-exact when quoted. ok is false for a word that cannot
// be a column and for U&"…" identifiers.
func columnName(t token) (string, bool) {
	switch t.kind {
	case tWord:
		if keywords[t.text] || nonColumns[t.text] {
			return "", false
		}
		return t.text, true
	case tIdent:
		s := t.text
		switch s[0] {
		case '"', '`':
			q := s[:1]
			if len(s) < 2 || !strings.HasSuffix(s, q) {
				return "", false
			}
			s = strings.ReplaceAll(s[1:len(s)-1], q+q, q)
		case '[':
			s = strings.TrimSuffix(s[1:], "]")
		default: // U&"…"
			return "", false
		}
		return s, s != ""
	}
	return "", false
}

// target reads "t [*] [[AS] alias] [INDEXED BY i | NOT INDEXED]" at i and
// records the table and its alias. It returns the index after it, or -1.
func (p *rowParser) target(i, hi int) int {
	parts, k := p.qualified(i, hi)
	if len(parts) == 0 {
		return -1
	}
	p.table = parts
	if k < hi && p.toks[k].is(tOp, "*") { // PostgreSQL: t * includes child tables
		k++
	}
	switch {
	case p.word(k) == "as":
		if k+1 >= hi || !p.toks[k+1].isName() {
			return -1
		}
		p.alias = unquote(p.toks[k+1])
		k += 2
	case k < hi && (p.toks[k].kind == tIdent || p.toks[k].kind == tWord && !keywords[p.toks[k].text]):
		p.alias = unquote(p.toks[k])
		k++
	}
	switch {
	case p.word(k) == "indexed" && p.word(k+1) == "by" && k+2 < hi && p.toks[k+2].isName():
		k += 3
	case p.word(k) == "not" && p.word(k+1) == "indexed":
		k += 2
	}
	return k
}

// column reads a plain column at i: a name, optionally qualified by the
// table's name (or its schema-qualified name) or alias. It returns the
// column's name and the index after it.
func (p *rowParser) column(i, hi int) (string, int, bool) {
	var parts []token
	for i < hi && p.toks[i].isName() {
		parts = append(parts, p.toks[i])
		if i+2 < hi && p.punct(i+1, ".") && p.toks[i+2].isName() {
			i += 2
			continue
		}
		i++
		break
	}
	if len(parts) == 0 {
		return "", i, false
	}
	name, ok := columnName(parts[len(parts)-1])
	if !ok || !p.qualifies(parts[:len(parts)-1]) {
		return "", i, false
	}
	return name, i, true
}

// qualifies reports whether qual (the parts before a column name) names the
// statement's table: nothing, its alias, or a tail of its qualified name.
func (p *rowParser) qualifies(qual []token) bool {
	if len(qual) == 0 {
		return true
	}
	if len(qual) == 1 && p.alias != "" && unquote(qual[0]) == p.alias {
		return true
	}
	if len(qual) > len(p.table) {
		return false
	}
	tail := p.table[len(p.table)-len(qual):]
	for j, q := range qual {
		if unquote(q) != tail[j] {
			return false
		}
	}
	return true
}

// valueClass says what kind of value an operand is, for cast checks.
type valueClass uint8

const (
	classParam valueClass = iota + 1
	classNumber
	classString
)

// value reads a value at i: a placeholder, a number with an optional leading
// minus, or a plain string, with at most one allowed cast. It returns the
// value and the index after it.
func (p *rowParser) value(i, hi int) (Value, int, bool) {
	if p.word(i) == "cast" && p.punct(i+1, "(") {
		j := p.close(i + 1)
		if j >= hi {
			return Value{}, i, false
		}
		v, class, k, ok := p.basicValue(i+2, j)
		if !ok || p.word(k) != "as" || !p.castType(k+1, j, v, class) {
			return Value{}, i, false
		}
		return v, j + 1, true
	}
	v, class, k, ok := p.basicValue(i, hi)
	if !ok {
		return Value{}, i, false
	}
	if k < hi && p.toks[k].is(tOp, "::") {
		end := k + 1
		for end < hi && (p.toks[end].isName() || p.punct(end, ".")) {
			end++
		}
		if !p.castType(k+1, end, v, class) {
			return Value{}, i, false
		}
		k = end
	}
	return v, k, true
}

// basicValue reads a placeholder, a number or a string at i.
func (p *rowParser) basicValue(i, hi int) (Value, valueClass, int, bool) {
	if i >= hi {
		return Value{}, 0, i, false
	}
	t := p.toks[i]
	switch {
	case t.kind == tParam:
		v, ok := p.param(i)
		return v, classParam, i + 1, ok
	case p.dollarName(i) != "" && i+1 < hi:
		return Value{Name: p.dollarName(i)}, classParam, i + 2, true
	case t.kind == tNumber && decimalNumber(t.text):
		return Value{Literal: t.text, IsLiteral: true}, classNumber, i + 1, true
	case t.is(tOp, "-") && i+1 < hi && p.toks[i+1].kind == tNumber && decimalNumber(p.toks[i+1].text):
		return Value{Literal: "-" + p.toks[i+1].text, IsLiteral: true}, classNumber, i + 2, true
	case t.kind == tString:
		s, ok := stringLiteral(t.text)
		return Value{Literal: s, IsLiteral: true}, classString, i + 1, ok
	}
	return Value{}, 0, i, false
}

// param returns the Value of the placeholder token at i.
func (p *rowParser) param(i int) (Value, bool) {
	text := p.src[p.toks[i].start:p.toks[i].end]
	switch {
	case text == "?":
		return Value{Ordinal: p.bareOrd[i]}, p.onlyBare // SQLite numbers ? after ?n and names differently
	case text[0] == '?' || text[0] == '$':
		n, err := strconv.Atoi(text[1:])
		return Value{Ordinal: n}, err == nil && n > 0
	default: // :name, @name
		return Value{Name: text[1:]}, len(text) > 1
	}
}

// Cast classes: a cast to text keeps any value; one to a number type needs
// a number literal (an integer one for an integer type), since SQLite and
// MySQL turn 'abc' into 0 and every dialect rounds 5.7 into an integer.
const (
	castText = iota + 1
	castNumeric
	castInteger
)

var castTypes = map[string]int{
	"text": castText, "varchar": castText, "citext": castText, "uuid": castText, "numeric": castNumeric,
	"int": castInteger, "int2": castInteger, "int4": castInteger, "int8": castInteger, "integer": castInteger,
	"smallint": castInteger, "bigint": castInteger,
}

// castType reports whether toks[i:hi] is exactly a type that v of class
// may be cast to without changing which row it names.
func (p *rowParser) castType(i, hi int, v Value, class valueClass) bool {
	parts, k := p.qualified(i, hi)
	if len(parts) == 0 || k != hi {
		return false
	}
	switch castTypes[parts[len(parts)-1]] {
	case castText:
		return true
	case castNumeric:
		return class == classParam || decimalNumber(trimSign(strings.TrimSpace(v.Literal)))
	case castInteger:
		return class == classParam || integerText(strings.TrimSpace(v.Literal))
	}
	return false
}

// trimSign removes one leading + or - from s.
func trimSign(s string) string {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		return s[1:]
	}
	return s
}

// integerText reports whether s is an optional sign and decimal digits.
func integerText(s string) bool {
	s = trimSign(s)
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// decimalNumber reports whether s is an unsigned decimal number: digits with
// an optional fraction and exponent (5, 5., .5, 1.5e-3). Hexadecimal, octal,
// binary and underscored numbers are not.
func decimalNumber(s string) bool {
	i, digits := 0, 0
	for i < len(s) && isDigit(s[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// stringLiteral returns the value of a plain '…' or dollar-quoted string
// token. Prefixed strings (E'…', X'…', N'…', U&'…') and strings holding a
// backslash (an escape in MySQL) are not simple.
func stringLiteral(text string) (string, bool) {
	switch text[0] {
	case '\'':
		if len(text) < 2 || text[len(text)-1] != '\'' || strings.IndexByte(text, '\\') >= 0 {
			return "", false
		}
		return strings.ReplaceAll(text[1:len(text)-1], "''", "'"), true
	case '$':
		end := strings.IndexByte(text[1:], '$')
		if end < 0 {
			return "", false
		}
		tag := text[:end+2]
		if len(text) < 2*len(tag) || !strings.HasSuffix(text, tag) {
			return "", false
		}
		return text[len(tag) : len(text)-len(tag)], true
	}
	return "", false
}

// span is a range of tokens [lo, hi).
type span struct{ lo, hi int }

// conjuncts splits toks[lo:hi] into its top-level AND chain. It is false
// when the range holds a top-level OR, XOR or || (MySQL's OR), or when CASE
// and END or BETWEEN and AND do not pair up. The AND of BETWEEN and the ANDs
// inside CASE … END do not split.
func (p *rowParser) conjuncts(lo, hi int) ([]span, bool) {
	var out []span
	start, cases, between := lo, 0, 0
	for i := lo; i < hi; i++ {
		t := p.toks[i]
		if t.isPunct("(") || t.isPunct("[") {
			i = p.close(i)
			continue
		}
		if t.is(tOp, "||") && cases == 0 {
			return nil, false
		}
		switch p.word(i) {
		case "case":
			cases++
		case "end":
			if cases == 0 {
				return nil, false
			}
			cases--
		case "or", "xor":
			if cases == 0 {
				return nil, false
			}
		case "between":
			if cases == 0 {
				between++
			}
		case "and":
			switch {
			case cases > 0:
			case between > 0:
				between--
			default:
				out = append(out, span{start, i})
				start = i + 1
			}
		}
	}
	if cases != 0 || between != 0 {
		return nil, false
	}
	return append(out, span{start, hi}), true
}

// orAt reports whether toks[lo:hi] holds a top-level OR, XOR or ||.
func (p *rowParser) orAt(lo, hi int) bool {
	for i := lo; i < hi; i++ {
		switch t := p.toks[i]; {
		case t.isPunct("(") || t.isPunct("["):
			i = p.close(i)
		case t.is(tOp, "||") || p.word(i) == "or" || p.word(i) == "xor":
			return true
		}
	}
	return false
}

// pin is one column tied to values by a conjunct.
type pin struct {
	col  string
	vals []Value
}

// pinsIn collects the pins of the AND chain toks[lo:hi], in order. A
// conjunct wholly in brackets is read as an AND chain of its own; one that
// is not an AND chain only narrows and is skipped. ok is false when the
// range itself is not an AND chain. With in set, col IN (v, …) pins too.
func (p *rowParser) pinsIn(lo, hi int, in bool, out []pin) ([]pin, bool) {
	conj, ok := p.conjuncts(lo, hi)
	if !ok {
		return out, false
	}
	for _, c := range conj {
		if c.lo < c.hi && p.punct(c.lo, "(") && p.match[c.lo] == c.hi-1 {
			out, _ = p.pinsIn(c.lo+1, c.hi-1, in, out)
			continue
		}
		if pn, ok := p.equality(c.lo, c.hi, in); ok {
			out = append(out, pn)
		}
	}
	return out, true
}

// equality reads a conjunct of the form col = v, v = col, or (with in)
// col IN (v, …), which must span all of toks[lo:hi].
func (p *rowParser) equality(lo, hi int, in bool) (pin, bool) {
	if col, k, ok := p.column(lo, hi); ok {
		switch {
		case k < hi && (p.toks[k].is(tOp, "=") || p.toks[k].is(tOp, "==")):
			if v, end, ok := p.value(k+1, hi); ok && end == hi {
				return pin{col, []Value{v}}, true
			}
		case in && p.word(k) == "in" && p.punct(k+1, "(") && p.close(k+1) == hi-1:
			if vals, ok := p.valueList(k+2, hi-1); ok && len(vals) > 0 {
				return pin{col, vals}, true
			}
		}
		return pin{}, false
	}
	v, k, ok := p.value(lo, hi)
	if !ok || k >= hi || !(p.toks[k].is(tOp, "=") || p.toks[k].is(tOp, "==")) {
		return pin{}, false
	}
	if col, end, ok := p.column(k+1, hi); ok && end == hi {
		return pin{col, []Value{v}}, true
	}
	return pin{}, false
}

// valueList reads "v, v, …" filling all of toks[lo:hi].
func (p *rowParser) valueList(lo, hi int) ([]Value, bool) {
	var vals []Value
	for i := lo; i < hi; {
		v, k, ok := p.value(i, hi)
		if !ok {
			return nil, false
		}
		vals = append(vals, v)
		switch {
		case k == hi:
			return vals, true
		case p.punct(k, ",") && k+1 < hi:
			i = k + 1
		default:
			return nil, false
		}
	}
	return vals, len(vals) > 0
}

// topWord returns the index of the first of words at the top level of
// toks[lo:hi], or hi.
func (p *rowParser) topWord(lo, hi int, words ...string) int {
	for i := lo; i < hi; i++ {
		if p.punct(i, "(") || p.punct(i, "[") {
			i = p.close(i)
			continue
		}
		if w := p.word(i); w != "" && contains(words, w) {
			return i
		}
	}
	return hi
}

// splitTop splits toks[lo:hi] at top-level commas.
func (p *rowParser) splitTop(lo, hi int) []span {
	var out []span
	start := lo
	for i := lo; i < hi; i++ {
		if p.punct(i, "(") || p.punct(i, "[") {
			i = p.close(i)
			continue
		}
		if p.punct(i, ",") {
			out = append(out, span{start, i})
			start = i + 1
		}
	}
	return append(out, span{start, hi})
}

// dialectSafe reports whether every dialect splits src into the tokens lx
// holds. The lexer reads PostgreSQL and SQLite; MySQL differs in three ways
// that can hide or reveal a condition: a backslash escapes the next byte in
// its '…' and "…" strings (so a quote after a backslash ends a string for
// the lexer but not for MySQL), "--" starts a comment only before a space
// or a control character (id = 5--1 is id = 6), and "#" starts a comment.
func dialectSafe(src string, lx lexResult) bool {
	prev := 0
	for _, t := range lx.toks {
		if t.start < prev || t.end < t.start || t.end > len(src) || !safeGap(src[prev:t.start]) {
			return false
		}
		prev = t.end
		switch t.kind {
		case tString, tIdent:
			if !mysqlSameEnd(t.text) {
				return false
			}
		case tOp:
			if strings.IndexByte(t.text, '#') >= 0 {
				return false
			}
		}
	}
	return safeGap(src[prev:])
}

// safeGap reports whether the whitespace and comments between two tokens
// hold no "--" that MySQL would not read as a comment.
func safeGap(gap string) bool {
	for i := strings.Index(gap, "--"); i >= 0; {
		if i+2 >= len(gap) || gap[i+2] > ' ' {
			return false
		}
		next := strings.Index(gap[i+2:], "--")
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return true
}

// mysqlSameEnd reports whether MySQL, whose '…' and "…" strings take
// backslash escapes, ends a quoted token where the lexer ended it.
func mysqlSameEnd(text string) bool {
	start := strings.IndexAny(text, `'"`)
	if start < 0 || text[0] == '$' || text[0] == '`' || text[0] == '[' {
		return true // dollar-quoted strings, `x` and [x] have no escapes
	}
	q := text[start]
	for i := start + 1; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\\':
			i++
		case c == q && i+1 < len(text) && text[i+1] == q:
			i++
		case c == q:
			return i == len(text)-1
		}
	}
	return false
}
