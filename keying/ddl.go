package keying

// ddl records the tables a DDL statement names. Every DDL statement but
// REFRESH MATERIALIZED VIEW also sets allTables (see command): a created,
// altered, renamed or dropped object changes what other statements mean.
func (a *analysis) ddl(w string) {
	hi := len(a.toks)
	switch w {
	case "create":
		a.create()
	case "alter":
		i := a.skipWords(1, "materialized", "foreign")
		if obj := a.word(i); obj == "table" || obj == "view" {
			parts, _ := a.qualified(a.skipWords(i+1, "if", "exists", "only"), hi)
			a.addWrite(parts)
			for j := range a.toks {
				if a.word(j) == "rename" && a.word(j+1) == "to" {
					parts, _ := a.qualified(j+2, hi)
					a.addWrite(parts)
				}
			}
		}
	case "drop":
		i := a.skipWords(1, "materialized", "foreign")
		if obj := a.word(i); obj == "table" || obj == "view" {
			a.nameList(a.skipWords(i+1, "if", "exists"))
		}
	case "refresh":
		a.allTables = false
		a.nameList(a.skipWords(1, "materialized", "view", "concurrently"))
	case "rename": // MySQL: RENAME TABLE a TO b, c TO d
		for i := a.skipWords(1, "table"); i < hi; i++ {
			if a.toks[i].isName() && !keywords[a.word(i)] && a.word(i) != "to" {
				parts, k := a.qualified(i, hi)
				a.addWrite(parts)
				i = k - 1
			}
		}
	}
}

// create handles CREATE TABLE/VIEW name, CREATE INDEX … ON t and
// CREATE TRIGGER … ON t, and the query of CREATE TABLE/VIEW … AS.
func (a *analysis) create() {
	hi := len(a.toks)
	i := a.skipWords(1, "or", "replace", "temp", "temporary", "unlogged", "global", "local",
		"virtual", "unique", "materialized", "recursive", "foreign")
	for j := 1; j < i; j++ {
		if w := a.word(j); w == "temp" || w == "temporary" {
			a.session = true // it shadows a table of the same name for this connection alone
		}
	}
	switch a.word(i) {
	case "table", "view":
		parts, k := a.qualified(a.skipWords(i+1, "if", "not", "exists"), hi)
		a.addWrite(parts)
		a.scan(k, hi, nil, false)
	case "index", "trigger":
		for j := i; j < hi; j++ {
			if a.word(j) == "on" {
				parts, _ := a.qualified(a.skipWords(j+1, "only"), hi)
				a.addWrite(parts)
				return
			}
		}
	}
}
