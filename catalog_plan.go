package cachedsql

import (
	"slices"

	"github.com/cachedsql/cachedsql/keying"
)

// planCatalog completes p with what cat and the rules' declarations say about tables p's statement does
// not name: the base tables of the views it reads, the functions it calls, and the tables its writes
// change through foreign-key actions and triggers.
func (e *engine) planCatalog(p *plan, cat *catalog) {
	p.cat = cat
	switch p.st.Kind {
	case keying.KindRead:
		e.planCatalogRead(p, cat)
	case keying.KindWrite:
		if p.writeTables != nil {
			e.planCatalogWrite(p, cat)
		}
	}
}

// planCatalogRead adds the tables a read reaches through views and its rule's depends_on, and decides
// what its calls of user-defined functions allow.
func (e *engine) planCatalogRead(p *plan, cat *catalog) {
	st := p.st
	var depends []string
	if p.rule != nil {
		depends = p.rule.DependsOn
	}
	// A rule that gives depends_on vouches for the functions its reads call: they read those tables,
	// write nothing and change no session setting.
	vouched := depends != nil
	if cat.unknown {
		if len(st.Calls()) > 0 && !vouched {
			// Any function may be user-defined and write: replace the epoch after the statement.
			p.writeKeys = []string{e.layout.Epoch()}
		}
		p.why(BypassCatalogUnknown, "the database catalog is not loaded")
		return
	}
	tables := cat.expand(append(slices.Clone(st.Reads), depends...))
	calls := st.Calls()
	for _, t := range tables {
		calls = append(calls, cat.viewCalls[t]...)
	}
	for _, f := range calls {
		switch k, ok := cat.funcs[f]; {
		case !ok || k == funcPure || vouched:
		case k == funcVolatile:
			// It may write any table, or change a session setting (set_config): the connection's later
			// reads are not cached, and the statement replaces the epoch once it has run.
			p.session = true
			p.writeKeys = []string{e.layout.Epoch()}
			p.why(BypassUserFunction, "calls volatile function "+f+"(), which may write any table or change the session: list the tables it reads in the rule's depends_on")
		default:
			p.why(BypassUserFunction, "calls user-defined function "+f+"(), which may read any table: list the tables it reads in the rule's depends_on")
		}
	}
	for _, t := range tables {
		if why, ok := cat.viewWhy[t]; ok {
			p.why(BypassView, why)
		}
	}
	for _, t := range tables {
		if !slices.Contains(st.Reads, t) {
			p.readKeys = append(p.readKeys, e.layout.Token(t))
			if p.row != nil {
				p.why(BypassView, "a row rule's entries record only the tokens of the table it names, which is a view here")
			}
		}
	}
}

// why sets the reason p is not cached, keeping an earlier one.
func (p *plan) why(r BypassReason, detail string) {
	if p.reason == bypassNone {
		p.reason, p.detail = r, detail
	}
}

// expand returns tables with, transitively, the tables views among them read and the inheritance
// children and partitions of tables among them.
func (c *catalog) expand(tables []string) []string {
	for i := 0; i < len(tables); i++ {
		for _, u := range c.under[tables[i]] {
			if !slices.Contains(tables, u) {
				tables = append(tables, u)
			}
		}
	}
	return tables
}

// planCatalogWrite adds the tables a write changes through foreign-key actions, triggers (as found in
// the catalog or declared in the rules), updatable views and partitions, transitively. A trigger whose
// writes cannot be known, an unknown catalog, or a call of a volatile user-defined function makes the
// write replace the epoch.
func (e *engine) planCatalogWrite(p *plan, cat *catalog) {
	st := p.st
	all := cat.unknown
	for _, f := range st.Calls() {
		if !cat.unknown && cat.funcs[f] == funcVolatile {
			all = true
		}
	}
	var extra []string
	if !all && !cat.none {
		extra, all = e.reach(cat, p.rs.rules, p.writeTables, st)
	} else if cat.none {
		extra, _ = e.reach(cat, p.rs.rules, p.writeTables, st) // declared triggers only
	}
	if all {
		p.writeKeys, p.writeTables, p.alsoWrites = []string{e.layout.Epoch()}, nil, nil
		return
	}
	for _, t := range extra {
		p.writeKeys = append(p.writeKeys, e.layout.Token(t))
	}
	p.alsoWrites = extra
}

// reach returns the tables other than direct that writing direct changes (as the catalog and the
// trigger declarations of rules say), and whether that may be any table.
func (e *engine) reach(cat *catalog, rules *Rules, direct []string, st *keying.Statement) (extra []string, all bool) {
	type step struct {
		table            string
		deletes, updates bool
	}
	del, upd := st.RowOps()
	var queue []step
	seen := map[string]bool{} // tables queued
	for _, t := range direct {
		seen[t] = true
		queue = append(queue, step{t, del, upd})
	}
	add := func(t string, del, upd bool) {
		if slices.Contains(direct, t) && !slices.Contains(extra, t) {
			// A written table that changes itself (a self-referencing cascade, a trigger writing its own
			// table) changes rows the write's key values do not name: it is listed whole.
			extra = append(extra, t)
		}
		if !seen[t] {
			seen[t] = true
			extra = append(extra, t)
			queue = append(queue, step{t, del, upd})
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if w, ok := rules.triggerWrites(s.table); ok {
			for _, t := range w {
				add(t, true, true)
			}
		} else if cat.trigAll[s.table] {
			return nil, true
		} else {
			for _, t := range cat.trigWrites[s.table] {
				add(t, true, true)
			}
		}
		for _, a := range cat.fks[s.table] {
			// A cascaded delete deletes, SET NULL and SET DEFAULT update: the child's own actions follow.
			if s.deletes && a.onDelete || s.updates && a.onUpdate {
				add(a.child, true, true)
			}
		}
		for _, t := range cat.under[s.table] {
			add(t, s.deletes, s.updates)
		}
	}
	return extra, false
}
