package cachedsql_test

import (
	"reflect"
	"testing"

	"github.com/cachedsql/cachedsql"
)

// TestRulesDeclarations: depends_on and triggers in a rule file, and their Go forms.
func TestRulesDeclarations(t *testing.T) {
	t.Parallel()
	rs, err := cachedsql.ParseRules("rules.yaml", []byte(`version: 1
rules:
  - name: tiers
    match:
      sql: SELECT tier_of($1)
    depends_on: [Public.Customers, customers, tiers]
  - name: pure
    match:
      sql: SELECT slug($1)
    depends_on: []
  - name: plain
    match:
      tables_any: [users]
triggers:
  - table: Orders
    writes: [audit, s.Audit, totals]
  - table: carts
    writes: []
`))
	if err != nil {
		t.Fatal(err)
	}
	all := rs.All()
	if got := all[0].DependsOn; !reflect.DeepEqual(got, []string{"customers", "tiers"}) {
		t.Errorf("depends_on of tiers = %q", got)
	}
	if got := all[1].DependsOn; got == nil || len(got) != 0 {
		t.Errorf("depends_on: [] = %#v, want empty and non-nil (given)", got)
	}
	if got := all[2].DependsOn; got != nil {
		t.Errorf("depends_on not given = %#v, want nil", got)
	}
	want := []cachedsql.Trigger{{Table: "carts", Writes: []string{}}, {Table: "orders", Writes: []string{"audit", "totals"}}}
	if got := rs.Triggers(); !reflect.DeepEqual(got, want) {
		t.Errorf("Triggers() = %#v, want %#v", got, want)
	}

	rs2, err := rs.WithTriggers(cachedsql.Trigger{Table: "items", Writes: []string{"stock"}})
	if err != nil || len(rs2.Triggers()) != 3 || len(rs2.All()) != 3 {
		t.Errorf("WithTriggers: %v, %v", rs2.Triggers(), err)
	}
	if _, err := rs.WithTriggers(cachedsql.Trigger{Table: "orders"}); err == nil {
		t.Error("WithTriggers redeclaring orders: no error")
	}
	if _, err := rs.WithTriggers(cachedsql.Trigger{Table: " "}); err == nil {
		t.Error("WithTriggers with an empty table: no error")
	}
	if _, err := cachedsql.NewRules(cachedsql.Rule{Name: "x", Match: cachedsql.Match{Default: true}, DependsOn: []string{"a."}}); err == nil {
		t.Error("NewRules with a bad depends_on name: no error")
	}
	// A file may declare triggers alone.
	if rs, err := cachedsql.ParseRules("t.yaml", []byte("version: 1\ntriggers:\n  - table: a\n    writes: [b]\n")); err != nil || len(rs.Triggers()) != 1 {
		t.Errorf("a file of triggers only: %v", err)
	}
}
