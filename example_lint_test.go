package cachedsql_test

import (
	"context"
	"fmt"

	"github.com/cachedsql/cachedsql"
)

// A rule set is linted before use: without a database, Lint reports the rules that can never apply
// and a default rule without a ttl; given one, also missing tables and row keys that are not unique.
func ExampleRules_Lint() {
	rules, err := cachedsql.ParseRules("cache.yaml", []byte(`
version: 1
rules:
  - name: orders
    match: { tables_any: [orders] }
    ttl: 5m
  - name: order-totals
    match: { tables_all: [orders, customers] }
  - name: everything
    match: { default: true }
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	warnings, err := rules.Lint(context.Background(), nil) // nil: no database, the offline checks only
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range warnings {
		fmt.Printf("%s [%s]\n", w, w.Check)
	}
	// Output:
	// cache.yaml:7: rule "order-totals": never applies: rule "orders" (cache.yaml:4) matches every statement it would [shadowed]
	// cache.yaml:9: rule "everything": default rule has no ttl: every cacheable read is cached for the built-in 1m0s; set the staleness you accept [default-ttl]
}
