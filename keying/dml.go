package keying

// startsCTE reports whether toks[i:] begins a CTE list:
// [RECURSIVE] name [(columns)] AS [NOT] [MATERIALIZED] (.
// It tells WITH … AS ( from WITH ORDINALITY, WITH TIME ZONE and the like.
func (a *analysis) startsCTE(i, hi int) bool {
	i = a.skipWords(i, "recursive")
	if i >= hi || !a.toks[i].isName() {
		return false
	}
	i++
	if a.punct(i, "(") {
		i = a.close(i) + 1
	}
	if a.word(i) != "as" {
		return false
	}
	i = a.skipWords(i+1, "not", "materialized")
	return a.punct(i, "(")
}

// with analyses "WITH … main" in toks[lo:hi] and returns its kind. A CTE
// name hides a table of that name only in later CTE bodies and in the main
// statement (and, with RECURSIVE, in its own body): a body that reads a
// table of its own name reads the real table.
func (a *analysis) with(lo, hi int, scope []string) Kind {
	i := lo + 1
	recursive := a.word(i) == "recursive"
	if recursive {
		i++
	}
	names := scope[:len(scope):len(scope)]
	for a.startsCTE(i, hi) {
		name := unquote(a.toks[i])
		i++
		if a.punct(i, "(") {
			i = a.close(i) + 1
		}
		i = a.skipWords(i+1, "not", "materialized")
		j := min(a.close(i), hi)
		bodyScope := names
		if recursive {
			bodyScope = append(names[:len(names):len(names)], name)
		}
		a.sub(i+1, j, bodyScope, false)
		names = append(names[:len(names):len(names)], name)
		i = j + 1
		for i < hi && !a.punct(i, ",") && !mainStart(a.word(i)) && !a.punct(i, "(") {
			i++ // SEARCH … SET …, CYCLE … SET … USING …
		}
		if !a.punct(i, ",") {
			break
		}
		i++
	}
	kind := KindRead
	switch a.word(i) {
	case "insert", "update", "delete", "merge", "replace":
		kind = KindWrite
		a.dml(i, hi, names)
	case "select", "values", "table", "":
		a.scan(i, hi, names, false)
	default:
		a.unsure = true
		a.scan(i, hi, names, false)
	}
	if a.writableCTE {
		kind = KindWrite
	}
	return kind
}

func mainStart(w string) bool {
	switch w {
	case "select", "values", "table", "insert", "update", "delete", "merge", "replace":
		return true
	}
	return false
}

// dml analyses INSERT, REPLACE, UPDATE, DELETE and MERGE at toks[lo].
func (a *analysis) dml(lo, hi int, scope []string) {
	switch a.word(lo) {
	case "insert", "replace", "upsert":
		i := a.skipWords(lo+1, "or", "replace", "ignore", "abort", "fail", "rollback",
			"low_priority", "delayed", "high_priority", "into")
		parts, k := a.qualified(i, hi)
		a.addWrite(parts)
		a.scan(k, hi, scope, false)
	case "update":
		i := a.skipWords(lo+1, "only", "or", "replace", "ignore", "abort", "fail", "rollback", "low_priority")
		parts, k := a.qualified(i, hi)
		a.addWrite(parts)
		a.scan(k, hi, scope, false)
	case "delete":
		a.delete(lo, hi, scope)
	case "merge":
		parts, k := a.qualified(a.skipWords(lo+1, "into", "only"), hi)
		a.addWrite(parts)
		k = a.skipAlias(k, hi)
		if a.word(k) == "using" {
			k = a.fromItem(k+1, hi, scope)
		}
		a.scan(k, hi, scope, true)
	}
	if len(a.writes) == 0 {
		a.unsure = true
		a.allTables = true
	}
}

// delete analyses DELETE FROM t [USING …] and MySQL's DELETE t1, t2 FROM ….
func (a *analysis) delete(lo, hi int, scope []string) {
	i := a.skipWords(lo+1, "low_priority", "quick", "ignore")
	if a.word(i) != "from" { // MySQL: the targets come before FROM
		for {
			parts, k := a.qualified(i, hi)
			a.addWrite(parts)
			if a.punct(k, ".") && k+1 < hi && a.toks[k+1].is(tOp, "*") {
				k += 2 // DELETE t1.* FROM …
			}
			if !a.punct(k, ",") {
				break
			}
			i = k + 1
		}
		a.scan(i, hi, scope, false)
		return
	}
	parts, k := a.qualified(a.skipWords(i+1, "only"), hi)
	a.addWrite(parts)
	k = a.skipAlias(k, hi)
	inFrom := false
	if a.word(k) == "using" {
		k = a.fromItem(k+1, hi, scope)
		inFrom = true
	}
	a.scan(k, hi, scope, inFrom)
}
