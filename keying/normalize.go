package keying

import "strings"

// keywords are the words that cannot be a table alias or a function name.
// The lexer uses them to tell a SQLite [identifier] from a subscript,
// normalization to decide whether "(" follows a function name, and the
// table scanner to tell an alias from the next clause.
var keywords = setOf(
	"all", "and", "any", "as", "asc", "between", "by", "case", "cast", "check",
	"collate", "conflict", "cross", "default", "delete", "desc", "distinct", "do", "else",
	"end", "except", "exists", "fetch", "filter", "for", "from", "full", "group", "having",
	"ilike", "in", "indexed", "inner", "insert", "intersect", "into", "is", "join", "lateral",
	"left", "like", "limit", "natural", "not", "null", "offset", "on", "only", "or", "order",
	"outer", "over", "partition", "qualify", "recursive", "returning", "right", "select",
	"set", "similar", "some", "straight_join", "table", "tablesample", "then", "union",
	"update", "using", "values", "when", "where", "window", "with", "within",
)

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// normalize joins tokens into the canonical text: one space between
// tokens, none inside parentheses and brackets, before a comma, around a
// qualifying dot, around a "::" cast, or between a function name and its
// "(". Every choice depends only on the two tokens involved, and no
// two tokens are ever glued in a way that lexes differently, so
// normalize(lex(normalize(x))) == normalize(x).
func normalize(b *strings.Builder, toks []token) {
	for i, t := range toks {
		if i > 0 && needSpace(toks[i-1], t) {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
}

func needSpace(prev, cur token) bool {
	switch {
	case prev.isPunct("(") || prev.isPunct("["):
		return false
	case cur.kind == tPunct && strings.Contains("),;]", cur.text):
		return false
	case cur.isPunct("."):
		return !(prev.isName() || prev.isPunct(")"))
	case prev.isPunct("."):
		return !(cur.isName() || cur.is(tOp, "*"))
	case cur.isPunct("["):
		return !castOperand(prev)
	case cur.isPunct("("):
		return !(prev.kind == tIdent || prev.kind == tWord && !keywords[prev.text])
	case cur.is(tOp, "::"):
		return !castOperand(prev)
	case prev.is(tOp, "::"):
		return !cur.isName()
	}
	return true
}

func castOperand(t token) bool {
	switch t.kind {
	case tWord, tIdent, tString, tNumber, tParam:
		return true
	}
	return t.isPunct(")") || t.isPunct("]")
}
