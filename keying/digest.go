package keying

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Digest is the literal-free form of a statement, for statistics: statements that differ only in
// their literals ("id = 7", "id = 8") or in the length of an IN list share it, as they share an
// entry of PostgreSQL's pg_stat_statements or ProxySQL's digest table. Cache keys never use it: they
// keep every literal (see [Statement]).
type Digest struct {
	// Text is the normalized text (as [Statement].Normalized) with every string and number literal
	// (a sign before a number included) written as "?", and every IN list of literals and
	// placeholders, of any length, written as "(?)". Placeholders ($1, ?, :name) are kept. It holds no
	// literal, so it is safe to show and store.
	Text string
	// Fingerprint is 16 lower-case hex digits: the first 64 bits of the SHA-256 of Text.
	Fingerprint string
	// Exact reports that nothing was replaced: Text is the statement's normalized text itself, so a
	// rule's match.sql of Text matches exactly the statements of this digest.
	Exact bool
}

// DigestOf returns the digest of query. Like [Analyze], it never panics; texts it cannot lex
// cleanly (an unterminated string) get a digest all the same. The digest of d.Text has d's Text and
// Fingerprint.
func DigestOf(query string) Digest {
	lx := lex(query)
	var b strings.Builder
	b.Grow(len(query))
	exact := true
	for i, seg := range splitSegments(lx.toks) {
		if i > 0 {
			b.WriteString("; ")
		}
		out, changed := digestTokens(seg)
		exact = exact && !changed
		normalize(&b, out)
	}
	d := Digest{Text: b.String(), Exact: exact}
	sum := sha256.Sum256([]byte(d.Text))
	d.Fingerprint = hex.EncodeToString(sum[:8])
	return d
}

// marker stands for a literal, or for a list of them: it is spaced as a literal is (normalize treats
// string, number and placeholder tokens alike).
var marker = token{kind: tParam, text: "?"}

// digestTokens returns seg with its literals replaced by markers, and reports whether it replaced any.
func digestTokens(seg []token) ([]token, bool) {
	out := make([]token, 0, len(seg))
	changed := false
	for i := 0; i < len(seg); i++ {
		t := seg[i]
		if t.isPunct("(") && len(out) > 0 && out[len(out)-1].is(tWord, "in") {
			if end := inList(seg, i); end > 0 {
				out = append(out, t, marker, seg[end])
				i, changed = end, true
				continue
			}
		}
		if n := literalAt(seg, i, out); n > 0 {
			out = append(out, marker)
			i, changed = i+n-1, true
			continue
		}
		out = append(out, t)
	}
	return out, changed
}

// literalAt returns how many tokens of seg, from i, make one literal: a string or a number (1), a
// sign then a number where no operand precedes the sign (2); else 0. prev are the tokens before i as
// rewritten so far.
func literalAt(seg []token, i int, prev []token) int {
	switch t := seg[i]; {
	case t.kind == tString || t.kind == tNumber:
		return 1
	case (t.is(tOp, "-") || t.is(tOp, "+")) && i+1 < len(seg) && seg[i+1].kind == tNumber:
		if len(prev) == 0 || !operand(prev[len(prev)-1]) {
			return 2
		}
	}
	return 0
}

// operand reports whether t ends an operand, after which + and - are binary operators.
func operand(t token) bool {
	switch t.kind {
	case tWord:
		return !keywords[t.text]
	case tIdent, tString, tNumber, tParam:
		return true
	}
	return t.isPunct(")") || t.isPunct("]")
}

// inList returns the index of the ")" closing the list that opens at seg[open] when the list holds
// only literals and placeholders, one or more, separated by commas; else 0.
func inList(seg []token, open int) int {
	i := open + 1
	for {
		switch {
		case i < len(seg) && seg[i].kind == tParam:
			i++
		default:
			n := 0
			if i < len(seg) {
				n = literalAt(seg, i, seg[:i])
			}
			if n == 0 {
				return 0
			}
			i += n
		}
		switch {
		case i < len(seg) && seg[i].isPunct(")"):
			return i
		case i < len(seg) && seg[i].isPunct(","):
			i++
		default:
			return 0
		}
	}
}

// Regular expressions of what a marker stands for in a normalized text.
const (
	reString = `(?:[eE]'(?:[^'\\]|''|\\(?s:.))*'|(?:[xXbBnN]|[uU]&)?'(?:[^']|'')*'|\$[A-Za-z_0-9]*\$(?s:.*?)\$[A-Za-z_0-9]*\$)`
	reNumber = `(?:[-+] )?(?:[0-9]|\.[0-9])(?:[0-9A-Za-z_.\x{80}-\x{10ffff}]|[eE][-+][0-9])*`
	reParam  = `(?:\$[0-9]+|\?[0-9]*|[:@][A-Za-z_\x{80}-\x{10ffff}][A-Za-z_0-9\x{80}-\x{10ffff}]*)`
	reItem   = `(?:` + reString + `|` + reNumber + `|` + reParam + `)`
)

// DigestPattern returns an anchored RE2 expression, for a rule's match.regexp, that matches the
// normalized text ([Statement].Normalized) of every statement whose digest text is text (a
// [Digest].Text): each "?" stands for a literal or a "?" placeholder, each "(?)" after IN for a list
// of them. It may match a few more texts (a "?" stands for any literal, of any type). One kind of text
// escapes it: a "[" after a keyword or an operator holding a quoted literal, which no dialect accepts
// (the digest's "[?]" then reads as a bracketed name). The pattern grows with the digest's markers,
// and RE2 matches in time proportional to pattern × text: keep rules to statements with few literals.
func DigestPattern(text string) string {
	var b strings.Builder
	b.WriteByte('^')
	for s, seg := range splitSegments(lex(text).toks) {
		if s > 0 {
			b.WriteString("; ")
		}
		for i := 0; i < len(seg); i++ {
			t := seg[i]
			if i > 0 && needSpace(seg[i-1], t) {
				b.WriteByte(' ')
			}
			switch {
			case t.isPunct("(") && i > 0 && seg[i-1].is(tWord, "in") && i+2 < len(seg) &&
				seg[i+1].is(tParam, "?") && seg[i+2].isPunct(")"):
				b.WriteString(`\(` + reItem + `(?:, ` + reItem + `)*\)`)
				i += 2
			case t.is(tParam, "?"):
				b.WriteString(reItem)
			default:
				quoteMeta(&b, t.text)
			}
		}
	}
	b.WriteByte('$')
	return b.String()
}

// quoteMeta writes s as a regular expression matching s. Go's regexp reads a byte of invalid UTF-8 as
// U+FFFD, so such a byte is written as that rune (a pattern must itself be valid UTF-8).
func quoteMeta(b *strings.Builder, s string) {
	for s != "" {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			b.WriteString(`\x{fffd}`)
		} else {
			b.WriteString(regexp.QuoteMeta(s[:n]))
		}
		s = s[n:]
	}
}
