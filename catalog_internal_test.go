package cachedsql

import (
	"slices"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestCatalogPlans checks how plans follow the catalog: conservative while it is unknown (a failed or
// pending load cannot be produced on demand with a real database), from the text alone for databases
// without catalog support, and rebuilt when it changes.
func TestCatalogPlans(t *testing.T) {
	t.Parallel()
	rs, err := NewRules(Rule{Name: "all", Match: Match{Default: true}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(Options{Rules: rs}, "sqlite3", ":memory:", &sqlite3.SQLiteDriver{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	epoch := []string{e.layout.Epoch()}

	// Not loaded yet: reads bypass, writes and reads calling functions replace the epoch.
	if p := e.plans.get(`SELECT * FROM t`); p.reason != BypassCatalogUnknown || p.rule == nil {
		t.Errorf("read with the catalog unknown: reason %v, rule %v; want %v and the rule kept", p.reason, p.rule, BypassCatalogUnknown)
	}
	if p := e.plans.get(`SELECT f(x) FROM t`); !slices.Equal(p.writeKeys, epoch) {
		t.Errorf("read calling a function with the catalog unknown: writes %q, want the epoch", p.writeKeys)
	}
	if p := e.plans.get(`DELETE FROM t`); !slices.Equal(p.writeKeys, epoch) || p.writeTables != nil {
		t.Errorf("write with the catalog unknown: writes %q, want the epoch", p.writeKeys)
	}

	// No catalog support: planned from the text.
	e.cat.cur.Store(&catalog{none: true})
	if p := e.plans.get(`SELECT * FROM t`); p.reason != bypassNone {
		t.Errorf("read without catalog support: reason %v", p.reason)
	}
	if p := e.plans.get(`DELETE FROM t`); !slices.Equal(p.writeTables, []string{"t"}) {
		t.Errorf("write without catalog support: tables %q", p.writeTables)
	}

	c := newCatalog()
	c.fks["parent"] = []fkAction{{child: "child", onDelete: true}, {child: "nulled", onUpdate: true}}
	c.fks["child"] = []fkAction{{child: "grandchild", onUpdate: true}}
	c.under["v"] = []string{"w", "parent"}
	c.under["w"] = []string{"base"}
	c.trigWrites["orders"] = []string{"audit"}
	c.trigAll["dyn"] = true
	c.addFunc("tier_of", funcReads)
	c.addFunc("bump", funcVolatile)
	c.addFunc("slug", funcPure)
	c.viewWhy["clock"] = "view clock: calls now()"
	c.gen = e.cat.want.Load()
	e.cat.cur.Store(c)
	for _, tc := range []struct {
		sql   string
		extra []string // nil: the epoch
	}{
		{`DELETE FROM parent WHERE id = 1`, []string{"child", "grandchild"}},
		{`UPDATE parent SET id = 2`, []string{"nulled"}},
		{`INSERT INTO parent VALUES (1)`, []string{}},
		{`INSERT INTO orders VALUES (1)`, []string{"audit"}},
		{`INSERT INTO dyn VALUES (1)`, nil},
		{`UPDATE v SET x = 1`, []string{"w", "parent", "base", "nulled"}},
		{`INSERT INTO t VALUES (bump())`, nil},
	} {
		p := e.plans.get(tc.sql)
		switch {
		case tc.extra == nil && !slices.Equal(p.writeKeys, epoch):
			t.Errorf("%s: writes %q, want the epoch", tc.sql, p.writeKeys)
		case tc.extra != nil && !slices.Equal(p.alsoWrites, tc.extra) && len(p.alsoWrites)+len(tc.extra) > 0:
			t.Errorf("%s: also writes %q, want %q", tc.sql, p.alsoWrites, tc.extra)
		}
	}
	for _, tc := range []struct {
		sql     string
		reason  BypassReason
		session bool
		reads   []string
	}{
		{`SELECT * FROM v`, bypassNone, false, []string{"v", "w", "parent", "base"}},
		{`SELECT tier_of($1)`, BypassUserFunction, false, nil},
		{`SELECT slug($1)`, bypassNone, false, nil},
		{`SELECT bump()`, BypassUserFunction, true, nil},
		{`SELECT * FROM clock`, BypassView, false, []string{"clock"}},
	} {
		p := e.plans.get(tc.sql)
		var reads []string
		for _, k := range p.readKeys[1:] {
			reads = append(reads, k)
		}
		var want []string
		for _, t := range tc.reads {
			want = append(want, e.layout.Token(t))
		}
		if p.reason != tc.reason || p.session != tc.session || !slices.Equal(reads, want) {
			t.Errorf("%s: reason %v (%s), session %v, reads %q; want %v, %v, %q", tc.sql, p.reason, p.detail, p.session, reads, tc.reason, tc.session, want)
		}
	}

	// A rule's depends_on vouches for the functions its reads call, volatile ones too.
	vouch, err := NewRules(Rule{Name: "vouch", Match: Match{SQL: `SELECT bump()`}, DependsOn: []string{"counters"}})
	if err != nil {
		t.Fatal(err)
	}
	e.cat.cur.Store(c) // the same catalog: plans are rebuilt by hand
	p := e.newPlan(newRuleSet(vouch, nil), `SELECT bump()`)
	if p.reason != bypassNone || p.session || p.writeKeys != nil || !slices.Equal(p.readKeys[1:], []string{e.layout.Token("counters")}) {
		t.Errorf("SELECT bump() under depends_on: reason %v (%s), session %v, writes %q, reads %q; want cached, reading counters",
			p.reason, p.detail, p.session, p.writeKeys, p.readKeys)
	}

	// DDL through the wrapper: the catalog is out of date until reloaded, and plans follow.
	e.cat.stale()
	if p := e.plans.get(`DELETE FROM parent WHERE id = 1`); !slices.Equal(p.writeKeys, epoch) {
		t.Errorf("write after DDL, catalog not reloaded: writes %q, want the epoch", p.writeKeys)
	}
}
