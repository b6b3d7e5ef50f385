package keying

import (
	"slices"
	"strconv"
	"strings"
)

// pins reads the rows an UPDATE, DELETE or INSERT of table may change.
func (p *rowParser) pins(table string) *Pins {
	var pn *Pins
	switch p.word(0) {
	case "update":
		pn = p.update()
	case "delete":
		pn = p.delete()
	case "insert":
		pn = p.insert()
	}
	if pn == nil || len(p.table) == 0 || p.table[len(p.table)-1] != table {
		return nil
	}
	pn.Table = table
	return pn
}

// orAction skips SQLite's "OR action" at i. OR REPLACE deletes the rows
// the new ones collide with, so it is refused.
func (p *rowParser) orAction(i int) (int, bool) {
	if p.word(i) != "or" {
		return i, true
	}
	switch p.word(i + 1) {
	case "ignore", "abort", "fail", "rollback":
		return i + 2, true
	}
	return i, false
}

// update reads UPDATE [ONLY] [OR action] [LOW_PRIORITY] [IGNORE] t
// [[AS] alias] SET … WHERE ….
func (p *rowParser) update() *Pins {
	hi := len(p.toks)
	i, ok := p.orAction(p.skipWords(1, "only"))
	if !ok {
		return nil
	}
	i = p.target(p.skipWords(i, "low_priority", "ignore"), hi)
	if i < 0 || p.word(i) != "set" {
		return nil // several targets, a join, or no SET
	}
	where := p.topWord(i+1, hi, "where", "from", "returning", "order", "limit")
	if p.word(where) != "where" {
		return nil // UPDATE … FROM, or no WHERE
	}
	assigned, ok := p.assigned(i+1, where)
	if !ok {
		return nil
	}
	return p.where(where, hi, assigned)
}

// delete reads DELETE [LOW_PRIORITY] [QUICK] [IGNORE] FROM [ONLY] t
// [[AS] alias] WHERE ….
func (p *rowParser) delete() *Pins {
	hi := len(p.toks)
	i := p.skipWords(1, "low_priority", "quick", "ignore")
	if p.word(i) != "from" {
		return nil // MySQL's DELETE t1, t2 FROM …
	}
	if i = p.target(p.skipWords(i+1, "only"), hi); i < 0 {
		return nil
	}
	return p.where(i, hi, nil)
}

// where reads "WHERE cond [RETURNING …] [ORDER BY …] [LIMIT …]" at i and
// pins the columns of cond that assigned does not hold (lower-cased).
func (p *rowParser) where(i, hi int, assigned map[string]bool) *Pins {
	if p.word(i) != "where" || p.word(i+1) == "current" && p.word(i+2) == "of" {
		return nil
	}
	end := p.topWord(i+1, hi, "returning", "order", "limit")
	// An OR after the cut means the cut was wrong (MySQL allows a column
	// named returning): refuse rather than guess.
	if p.orAt(end, hi) {
		return nil
	}
	found, ok := p.pinsIn(i+1, end, true, nil)
	if !ok {
		return nil
	}
	return product(found, assigned)
}

// product turns pins into Pins: the first pin of each column not in
// assigned, and the cartesian product of their values.
func product(found []pin, assigned map[string]bool) *Pins {
	byCol := make(map[string][]Value, len(found))
	var cols []string
	for _, pn := range found {
		if _, seen := byCol[pn.col]; seen || assigned[strings.ToLower(pn.col)] {
			continue
		}
		byCol[pn.col] = dedupeValues(pn.vals)
		cols = append(cols, pn.col)
	}
	if len(cols) == 0 {
		return nil
	}
	slices.Sort(cols)
	n := 1
	for _, c := range cols {
		if n *= len(byCol[c]); n > MaxPinnedRows {
			return nil
		}
	}
	rows := make([][]Value, 0, n)
	idx := make([]int, len(cols))
	for {
		row := make([]Value, len(cols))
		for j, c := range cols {
			row[j] = byCol[c][idx[j]]
		}
		rows = append(rows, row)
		j := len(cols) - 1
		for ; j >= 0; j-- { // advance the odometer
			if idx[j]++; idx[j] < len(byCol[cols[j]]) {
				break
			}
			idx[j] = 0
		}
		if j < 0 {
			return &Pins{Columns: cols, Rows: rows}
		}
	}
}

func dedupeValues(vals []Value) []Value {
	out := make([]Value, 0, len(vals))
	seen := make(map[Value]bool, len(vals))
	for _, v := range vals {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// assigned returns the names (lower-cased) of every name on the left of
// the assignments "a = …, (b, c) = …, t.d = …" in toks[lo:hi]: more than the
// columns assigned, which only unpins more.
func (p *rowParser) assigned(lo, hi int) (map[string]bool, bool) {
	names := make(map[string]bool)
	for _, s := range p.splitTop(lo, hi) {
		eq := -1
		for i := s.lo; i < s.hi && eq < 0; i++ {
			switch {
			case p.punct(i, "(") || p.punct(i, "["):
				i = p.close(i)
			case p.toks[i].is(tOp, "="):
				eq = i
			}
		}
		if eq <= s.lo {
			return nil, false
		}
		for i := s.lo; i < eq; i++ {
			if p.toks[i].isName() {
				names[unquote(p.toks[i])] = true
			}
		}
	}
	return names, true
}

// insert reads INSERT [OR action] [IGNORE] [INTO] t [AS alias] [(cols)]
// followed by VALUES, DEFAULT VALUES or a query, and the conflict clauses.
func (p *rowParser) insert() *Pins {
	hi := len(p.toks)
	i, ok := p.orAction(1)
	if !ok {
		return nil
	}
	i = p.skipWords(i, "low_priority", "delayed", "high_priority", "ignore")
	parts, k := p.qualified(p.skipWords(i, "into"), hi)
	if len(parts) == 0 {
		return nil
	}
	p.table = parts
	if p.word(k) == "as" && k+1 < hi && p.toks[k+1].isName() {
		k += 2
	}
	var cols []string
	if p.punct(k, "(") && !mainStart(p.word(k+1)) && p.word(k+1) != "with" {
		j := p.close(k)
		if j >= hi {
			return nil
		}
		if cols, ok = p.columnList(k+1, j); !ok {
			return nil
		}
		k = j + 1
	}
	if p.word(k) == "overriding" && p.word(k+2) == "value" {
		k += 3
	}
	switch {
	case p.word(k) == "values" || p.word(k) == "value":
		tuples, next, ok := p.tuples(k+1, hi)
		if !ok {
			return nil
		}
		return p.insertTail(next, hi, cols, tuples)
	case p.word(k) == "default" && p.word(k+1) == "values":
		return p.insertTail(k+2, hi, nil, nil)
	case p.word(k) == "select" || p.word(k) == "table" || p.punct(k, "(") && p.word(k+1) == "select":
		return p.selectTail(k, hi)
	}
	return nil // MySQL's INSERT … SET, WITH, and anything unknown
}

// columnList reads "a, "B", `c`" filling toks[lo:hi].
func (p *rowParser) columnList(lo, hi int) ([]string, bool) {
	var cols []string
	for _, s := range p.splitTop(lo, hi) {
		if s.hi != s.lo+1 {
			return nil, false
		}
		t := p.toks[s.lo]
		name, ok := columnName(t)
		if t.kind == tWord && !keywords[t.text] { // user, end, … are columns in a column list
			name, ok = t.text, true
		}
		if !ok {
			return nil, false
		}
		cols = append(cols, name)
	}
	return cols, true
}

// tuples reads "(…), (…)" at i and returns each tuple's items.
func (p *rowParser) tuples(i, hi int) ([][]span, int, bool) {
	var out [][]span
	for {
		if !p.punct(i, "(") {
			return nil, i, false
		}
		j := p.close(i)
		if j >= hi {
			return nil, i, false
		}
		if out = append(out, p.splitTop(i+1, j)); len(out) > MaxPinnedRows {
			return nil, i, false
		}
		if i = j + 1; !p.punct(i, ",") {
			return out, i, true
		}
		i++
	}
}

// selectTail reads the end of INSERT … SELECT: its conflict clause, if any,
// sits at the top level after the query.
func (p *rowParser) selectTail(k, hi int) *Pins {
	for i := k; i < hi; i++ {
		if p.punct(i, "(") || p.punct(i, "[") {
			i = p.close(i)
			continue
		}
		if p.word(i) == "on" && (p.word(i+1) == "conflict" || p.word(i+1) == "duplicate") {
			return p.insertTail(i, hi, nil, nil)
		}
	}
	return &Pins{Creates: true}
}

// conflict is one ON CONFLICT clause.
type conflict struct {
	target   []string        // the target columns; nil when absent or not plain columns
	nothing  bool            // DO NOTHING
	assigned map[string]bool // names assigned by DO UPDATE SET, lower-cased
}

// insertTail reads "[ON CONFLICT …]… [RETURNING …]" at k, the end of an
// INSERT whose column list is cols and whose VALUES rows are tuples (nil
// for DEFAULT VALUES and queries).
func (p *rowParser) insertTail(k, hi int, cols []string, tuples [][]span) *Pins {
	var clauses []conflict
	for p.word(k) == "on" {
		if p.word(k+1) != "conflict" {
			return nil // ON DUPLICATE KEY UPDATE
		}
		c, next, ok := p.conflict(k+2, hi)
		if !ok {
			return nil
		}
		clauses = append(clauses, c)
		k = next
	}
	if k < hi && p.word(k) != "returning" {
		return nil // MySQL's row alias (AS new), or anything unknown
	}
	switch {
	case len(clauses) > 1:
		return nil
	case len(clauses) == 0 || clauses[0].nothing:
		return p.creates(cols, tuples)
	}
	c := clauses[0]
	if c.target == nil || cols == nil || tuples == nil {
		return nil
	}
	for _, t := range c.target {
		if c.assigned[strings.ToLower(t)] {
			return nil // DO UPDATE moves the row to other key values
		}
	}
	return p.upsert(cols, c.target, tuples)
}

// conflict reads one ON CONFLICT clause after its two words.
func (p *rowParser) conflict(k, hi int) (conflict, int, bool) {
	var c conflict
	switch {
	case p.punct(k, "("):
		j := p.close(k)
		if j >= hi {
			return c, k, false
		}
		c.target, _ = p.columnList(k+1, j)
		if k = j + 1; p.word(k) == "where" {
			k = p.topWord(k+1, hi, "do")
		}
	case p.word(k) == "on" && p.word(k+1) == "constraint":
		_, k = p.qualified(k+2, hi)
	}
	if p.word(k) != "do" {
		return c, k, false
	}
	switch p.word(k + 1) {
	case "nothing":
		c.nothing = true
		return c, k + 2, true
	case "update":
		if p.word(k+2) != "set" {
			return c, k, false
		}
		end := p.topWord(k+3, hi, "where", "on", "returning")
		var ok bool
		if c.assigned, ok = p.assigned(k+3, end); !ok {
			return c, k, false
		}
		return c, p.topWord(end, hi, "on", "returning"), true
	}
	return c, k, false
}

// insertValue reads one item of a VALUES row. A literal that is a number
// but not an integer is not simple here: an integer column would store it
// rounded.
func (p *rowParser) insertValue(s span) (Value, bool) {
	v, end, ok := p.value(s.lo, s.hi)
	if !ok || end != s.hi {
		return Value{}, false
	}
	if lit := strings.TrimSpace(v.Literal); v.IsLiteral && decimalNumber(trimSign(lit)) && !integerText(lit) {
		return Value{}, false
	}
	return v, true
}

// creates pins the rows an INSERT adds: the columns whose value is simple
// in every row.
func (p *rowParser) creates(cols []string, tuples [][]span) *Pins {
	pn := &Pins{Creates: true}
	if cols == nil || tuples == nil {
		return pn
	}
	vals := make([][]Value, len(tuples))
	keep := make([]bool, len(cols))
	for c := range keep {
		keep[c] = true
	}
	for t, items := range tuples {
		if len(items) != len(cols) {
			return nil
		}
		vals[t] = make([]Value, len(cols))
		for c, s := range items {
			if v, ok := p.insertValue(s); ok {
				vals[t][c] = v
			} else {
				keep[c] = false
			}
		}
	}
	var idx []int
	for c, k := range keep {
		if k {
			idx = append(idx, c)
		}
	}
	return p.project(pn, cols, idx, vals)
}

// upsert pins the rows of INSERT … ON CONFLICT (target) DO UPDATE: the
// target columns' values in each row.
func (p *rowParser) upsert(cols, target []string, tuples [][]span) *Pins {
	var idx []int
	for _, t := range target {
		c := slices.Index(cols, t)
		if c < 0 {
			return nil
		}
		idx = append(idx, c)
	}
	vals := make([][]Value, len(tuples))
	for t, items := range tuples {
		if len(items) != len(cols) {
			return nil
		}
		vals[t] = make([]Value, len(cols))
		for _, c := range idx {
			v, ok := p.insertValue(items[c])
			if !ok {
				return nil
			}
			vals[t][c] = v
		}
	}
	if pn := p.project(&Pins{}, cols, idx, vals); pn != nil && len(pn.Columns) > 0 {
		return pn
	}
	return nil
}

// project fills pn with the columns cols[idx], sorted, and each row of vals
// projected on them, without duplicate rows. Duplicate columns give nil.
func (p *rowParser) project(pn *Pins, cols []string, idx []int, vals [][]Value) *Pins {
	if len(idx) == 0 {
		return pn
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(cols[a], cols[b]) })
	for j := 1; j < len(idx); j++ {
		if cols[idx[j]] == cols[idx[j-1]] {
			return nil
		}
	}
	for j := range idx {
		pn.Columns = append(pn.Columns, cols[idx[j]])
	}
	seen := make(map[string]bool, len(vals))
	for _, row := range vals {
		out := make([]Value, len(idx))
		var key strings.Builder
		for j, c := range idx {
			out[j] = row[c]
			key.WriteString(strconv.Quote(valueText(row[c])))
		}
		if !seen[key.String()] {
			seen[key.String()] = true
			pn.Rows = append(pn.Rows, out)
		}
	}
	return pn
}

// valueText renders v as the golden file shows it: $n, :name, or a quoted
// literal.
func valueText(v Value) string {
	switch {
	case v.IsLiteral:
		return "'" + strings.ReplaceAll(v.Literal, "'", "''") + "'"
	case v.Name != "":
		return ":" + v.Name
	}
	return "$" + strconv.Itoa(v.Ordinal)
}
