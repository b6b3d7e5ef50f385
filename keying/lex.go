package keying

import "strings"

// tokKind is the class of a lexical token.
type tokKind uint8

const (
	tWord   tokKind = iota // unquoted identifier or keyword; text is lower-cased
	tIdent                 // quoted identifier: "x", `x` or [x]; text is byte-exact
	tString                // string literal of any form; text is byte-exact
	tNumber                // numeric literal; text is byte-exact
	tParam                 // placeholder: $1, ?, ?3, :name, @name
	tOp                    // operator run, or any other single byte
	tPunct                 // one of ( ) [ ] , ; .
)

// token is one lexical token. start and end are byte offsets in the source.
type token struct {
	kind       tokKind
	text       string
	start, end int
}

func (t token) is(kind tokKind, text string) bool { return t.kind == kind && t.text == text }
func (t token) isPunct(text string) bool          { return t.kind == tPunct && t.text == text }
func (t token) isName() bool                      { return t.kind == tWord || t.kind == tIdent }

// lexResult is the outcome of lexing one text.
type lexResult struct {
	toks         []token
	name         string // sqlc query name from a comment
	unterminated bool   // a string, identifier or block comment ran to the end of the text
	oddComment   bool   // a block comment whose meaning differs between dialects
}

// lexer turns SQL text into tokens, dropping whitespace and comments.
// It understands PostgreSQL and SQLite and tolerates MySQL.
type lexer struct {
	src string
	pos int
	res lexResult
}

func lex(src string) lexResult {
	l := lexer{src: src}
	l.res.toks = make([]token, 0, len(src)/4+1)
	for l.pos < len(l.src) {
		l.next()
	}
	return l.res
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }
func isDigit(c byte) bool     { return c >= '0' && c <= '9' }

// isOpChar reports whether c can be part of an operator run.
func isOpChar(c byte) bool { return strings.IndexByte("+-*/<>=~!@#%^&|:", c) >= 0 }

func (l *lexer) peek(off int) byte {
	if l.pos+off < len(l.src) {
		return l.src[l.pos+off]
	}
	return 0
}

// emit appends a token that starts at start and ends at l.pos: callers advance l.pos past the token
// first. Tokens never overlap, and src[start:end] is the token's text (lower-cased for a tWord).
func (l *lexer) emit(kind tokKind, start int, text string) {
	l.res.toks = append(l.res.toks, token{kind: kind, text: text, start: start, end: l.pos})
}

func (l *lexer) next() {
	c := l.src[l.pos]
	start := l.pos
	switch {
	case isSpace(c):
		l.pos++
	case c == '-' && l.peek(1) == '-':
		l.lineComment()
	case c == '/' && l.peek(1) == '*':
		l.blockComment()
	case c == '\'':
		l.quoted('\'', false)
		l.emit(tString, start, l.src[start:l.pos])
	case c == '"' || c == '`':
		l.quoted(c, false)
		l.emit(tIdent, start, l.src[start:l.pos])
	case c == '[':
		l.bracket()
	case isIdentStart(c):
		l.word()
	case isDigit(c) || c == '.' && isDigit(l.peek(1)):
		l.number()
	case c == '$':
		l.dollar()
	case c == '?':
		l.pos++
		l.digits()
		l.emit(tParam, start, l.src[start:l.pos])
	case (c == ':' || c == '@') && isIdentStart(l.peek(1)) && (c == '@' || start == 0 || l.src[start-1] != ':'):
		l.pos++
		l.identChars()
		l.emit(tParam, start, l.src[start:l.pos])
	case isOpChar(c):
		l.operator()
	case strings.IndexByte("(),;.]", c) >= 0:
		l.pos++
		l.emit(tPunct, start, l.src[start:l.pos])
	default:
		l.pos++
		l.emit(tOp, start, l.src[start:l.pos])
	}
}

func (l *lexer) digits() {
	for l.pos < len(l.src) && (isDigit(l.src[l.pos]) || l.src[l.pos] == '_') {
		l.pos++
	}
}

func (l *lexer) identChars() {
	for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) && l.src[l.pos] != '$' {
		l.pos++
	}
}

func (l *lexer) lineComment() {
	start := l.pos
	end := strings.IndexByte(l.src[start:], '\n')
	if end < 0 {
		l.pos = len(l.src)
	} else {
		l.pos = start + end + 1
	}
	l.noteName(l.src[start+2 : l.pos])
}

// blockComment skips a comment, nesting as PostgreSQL does. SQLite and MySQL
// do not nest, so a comment that holds "/*" means different things in
// different dialects; so does a MySQL "/*!" comment, whose body is executed.
func (l *lexer) blockComment() {
	start := l.pos
	depth := 0
	for l.pos < len(l.src) {
		switch {
		case l.src[l.pos] == '/' && l.peek(1) == '*':
			depth++
			if depth > 1 {
				l.res.oddComment = true
			}
			l.pos += 2
		case l.src[l.pos] == '*' && l.peek(1) == '/':
			depth--
			l.pos += 2
			if depth == 0 {
				l.noteName(l.src[start+2 : l.pos-2])
				if strings.HasPrefix(l.src[start:], "/*!") {
					l.res.oddComment = true
				}
				return
			}
		default:
			l.pos++
		}
	}
	l.res.unterminated = true
}

// noteName records the first sqlc-style "name: Foo :one" comment.
func (l *lexer) noteName(body string) {
	if l.res.name != "" {
		return
	}
	body = strings.TrimSpace(body)
	rest, ok := strings.CutPrefix(body, "name:")
	if !ok {
		return
	}
	if f := strings.Fields(rest); len(f) > 0 {
		l.res.name = f[0]
	}
}

// quoted skips a quoted string or identifier starting at l.pos, where q is
// the quote; a doubled quote stands for one. With backslash set, a
// backslash escapes the next byte (PostgreSQL E'…' strings).
func (l *lexer) quoted(q byte, backslash bool) {
	l.pos++
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case backslash && c == '\\':
			l.pos += 2
		case c == q && l.peek(1) == q:
			l.pos += 2
		case c == q:
			l.pos++
			return
		default:
			l.pos++
		}
	}
	l.pos = len(l.src)
	l.res.unterminated = true
}

// bracket lexes "[". It opens a bracketed identifier (SQLite, SQL Server)
// where an operand may start, and is a subscript or array bracket
// (PostgreSQL) after an operand such as a column name, ")" or a type name.
// Brackets that hold "(", "[" or a quote are never an identifier, so an
// ARRAY[(SELECT …)] subquery stays visible. The choice depends only on the
// previous token and on characters that normalization keeps, so
// normalized text lexes to the same string again.
func (l *lexer) bracket() {
	start := l.pos
	if !l.operandBefore() {
		end := strings.IndexByte(l.src[start:], ']')
		if end > 0 && !strings.ContainsAny(l.src[start+1:start+end], "([`'\"") {
			l.pos = start + end + 1
			l.emit(tIdent, start, l.src[start:l.pos])
			return
		}
	}
	l.pos++
	l.emit(tPunct, start, "[")
}

func (l *lexer) operandBefore() bool {
	n := len(l.res.toks)
	if n == 0 {
		return false
	}
	switch p := l.res.toks[n-1]; p.kind {
	case tWord:
		return !keywords[p.text]
	case tIdent, tString, tNumber, tParam:
		return true
	case tPunct:
		return p.text == ")" || p.text == "]"
	}
	return false
}

// word lexes an unquoted identifier or keyword, or a prefixed literal:
// E'…', X'…', B'…', N'…', U&'…' and U&"…".
func (l *lexer) word() {
	start := l.pos
	c, next := l.src[l.pos], l.peek(1)
	switch {
	case next == '\'' && strings.IndexByte("eExXbBnN", c) >= 0:
		l.pos++
		l.quoted('\'', c == 'e' || c == 'E')
		l.emit(tString, start, l.src[start:l.pos])
		return
	case (c == 'u' || c == 'U') && next == '&' && (l.peek(2) == '\'' || l.peek(2) == '"'):
		q := l.peek(2)
		l.pos += 2
		l.quoted(q, false)
		kind := tString
		if q == '"' {
			kind = tIdent
		}
		l.emit(kind, start, l.src[start:l.pos])
		return
	}
	for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		l.pos++
	}
	l.emit(tWord, start, lowerASCII(l.src[start:l.pos]))
}

// number lexes 42, 1_000, 3.14, .5, 1e-5, 0x1F, 0o17, 0b101.
func (l *lexer) number() {
	start := l.pos
	if l.src[l.pos] == '0' && strings.IndexByte("xXoObB", l.peek(1)) >= 0 {
		l.pos += 2
		for l.pos < len(l.src) && (isIdentChar(l.src[l.pos]) && l.src[l.pos] != '$') {
			l.pos++
		}
		l.emit(tNumber, start, l.src[start:l.pos])
		return
	}
	l.digits()
	if l.peek(0) == '.' && l.peek(1) != '.' {
		l.pos++
		l.digits()
	}
	if c := l.peek(0); c == 'e' || c == 'E' {
		off := 1
		if s := l.peek(1); s == '+' || s == '-' {
			off = 2
		}
		if isDigit(l.peek(off)) {
			l.pos += off
			l.digits()
		}
	}
	l.emit(tNumber, start, l.src[start:l.pos])
}

// dollar lexes $1, a dollar-quoted string $tag$…$tag$, or a lone "$".
func (l *lexer) dollar() {
	start := l.pos
	if isDigit(l.peek(1)) {
		l.pos++
		l.digits()
		l.emit(tParam, start, l.src[start:l.pos])
		return
	}
	end := start + 1
	for end < len(l.src) && isIdentChar(l.src[end]) && l.src[end] != '$' &&
		(end > start+1 || !isDigit(l.src[end])) {
		end++
	}
	if end >= len(l.src) || l.src[end] != '$' {
		l.pos++
		l.emit(tOp, start, "$")
		return
	}
	tag := l.src[start : end+1]
	body := end + 1
	if i := strings.Index(l.src[body:], tag); i >= 0 {
		l.pos = body + i + len(tag)
	} else {
		l.pos = len(l.src)
		l.res.unterminated = true
	}
	l.emit(tString, start, l.src[start:l.pos])
}

// operator lexes a run of operator characters. The run stops where a
// comment or a :name/@name placeholder starts, and, as in PostgreSQL, a
// trailing + or - is split off unless the run holds one of ~ ! @ # % ^ & |.
func (l *lexer) operator() {
	start := l.pos
	for l.pos < len(l.src) && isOpChar(l.src[l.pos]) {
		c, next := l.src[l.pos], l.peek(1)
		if l.pos > start && (c == '-' && next == '-' || c == '/' && next == '*' ||
			(c == ':' || c == '@') && isIdentStart(next) && (c == '@' || l.src[l.pos-1] != ':')) {
			break
		}
		l.pos++
	}
	// PostgreSQL: a multi-character operator ends in + or - only if it holds one of ~!@#%^&|; the
	// trailing + and - are operators of their own. Decided once per run, so that a long run of them
	// costs linear time.
	if run := l.src[start:l.pos]; len(run) > 1 && !strings.ContainsAny(run, "~!@#%^&|") {
		end := len(run)
		for end > 1 && (run[end-1] == '+' || run[end-1] == '-') {
			end--
		}
		if end == 1 && (run[0] == '+' || run[0] == '-') {
			// + and - alone: one operator each. emit ends a token at l.pos, so step l.pos over each
			// byte before emitting it (emitting with l.pos at the end of the run overlapped them).
			for l.pos = start; l.pos < start+len(run); {
				l.pos++
				l.emit(tOp, l.pos-1, l.src[l.pos-1:l.pos])
			}
			return
		}
		l.pos = start + end
	}
	l.emit(tOp, start, l.src[start:l.pos])
}

// lowerASCII lower-cases ASCII letters, returning s itself when it has none.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
