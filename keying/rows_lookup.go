package keying

import (
	"slices"
	"strings"
)

// joinWords start a join after a FROM item.
var joinWords = setOf("join", "inner", "left", "right", "full", "cross", "natural", "straight_join", "outer", "lateral")

// lookup reads SELECT … FROM table [[AS] alias] WHERE … [ORDER BY …]
// [LIMIT …] [OFFSET …] [FETCH …].
func (p *rowParser) lookup(table string) (*Lookup, string) {
	hi := len(p.toks)
	switch p.word(0) {
	case "select":
	case "with":
		return nil, "WITH clause"
	default:
		return nil, "not a plain SELECT"
	}
	if r := p.shapeReason(hi); r != "" {
		return nil, r
	}
	from := p.selectFrom(hi)
	if from < 0 {
		return nil, "FROM clause not understood"
	}
	i := p.target(p.skipWords(from+1, "only"), hi)
	if i < 0 || p.table[len(p.table)-1] != table {
		return nil, "FROM clause not understood"
	}
	switch w := p.word(i); {
	case p.punct(i, ",") || joinWords[w]:
		return nil, "join"
	case i == hi || w == "order" || w == "limit" || w == "offset" || w == "fetch":
		return nil, "no WHERE clause"
	case w != "where":
		return nil, "FROM clause not understood"
	}
	end := p.topWord(i+1, hi, "order", "limit", "offset", "fetch")
	found, ok := p.pinsIn(i+1, end, false, nil)
	if !ok || p.orAt(end, hi) {
		return nil, "WHERE is not an AND chain"
	}
	lk := &Lookup{Table: table}
	seen := make(map[string]bool, len(found))
	for _, pn := range found {
		if !seen[pn.col] {
			seen[pn.col] = true
			lk.Columns = append(lk.Columns, pn.col)
			lk.Values = append(lk.Values, pn.vals[0])
		}
	}
	if len(lk.Columns) == 0 {
		return nil, "no equality on a column"
	}
	idx := make([]int, len(lk.Columns))
	for j := range idx {
		idx[j] = j
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(lk.Columns[a], lk.Columns[b]) })
	cols, vals := make([]string, len(idx)), make([]Value, len(idx))
	for j, k := range idx {
		cols[j], vals[j] = lk.Columns[k], lk.Values[k]
	}
	lk.Columns, lk.Values = cols, vals
	return lk, ""
}

// shapeReason finds what makes a SELECT more than a lookup of rows: a
// subquery anywhere, a window function, or at the top level a set
// operation, GROUP BY or HAVING.
func (p *rowParser) shapeReason(hi int) string {
	for i := 0; i < hi; i++ {
		if p.punct(i, "(") {
			switch p.word(i + 1) {
			case "select", "with", "values", "table":
				return "subquery"
			}
		}
	}
	for i := 0; i < hi; i++ {
		if p.word(i) == "over" {
			return "window function"
		}
	}
	for i := 0; i < hi; i++ {
		if p.punct(i, "(") || p.punct(i, "[") {
			i = p.close(i)
			continue
		}
		switch p.word(i) {
		case "union", "intersect", "except":
			return "set operation"
		case "window":
			return "window function"
		case "having":
			return "GROUP BY"
		case "group":
			if p.word(i+1) == "by" {
				return "GROUP BY"
			}
		}
	}
	return ""
}

// selectFrom returns the index of the top-level FROM of a SELECT, or -1. The
// FROM of "a IS [NOT] DISTINCT FROM b" does not count.
func (p *rowParser) selectFrom(hi int) int {
	for i := 1; i < hi; i++ {
		if p.punct(i, "(") || p.punct(i, "[") {
			i = p.close(i)
			continue
		}
		if p.word(i) == "from" && !(p.word(i-1) == "distinct" && (p.word(i-2) == "is" || p.word(i-2) == "not")) {
			return i
		}
	}
	return -1
}
