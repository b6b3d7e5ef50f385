package cachedsql_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

func ExampleNewRules() {
	rules, err := cachedsql.NewRules(
		cachedsql.Rule{
			Name:  "get-user",
			Match: cachedsql.Match{QueryName: "GetUser"},
			TTL:   5 * time.Minute,
		},
		cachedsql.Rule{
			// Keep audit reads out of the broader rule below.
			Name:     "no-audit",
			Match:    cachedsql.Match{TablesAny: []string{"audit_log"}},
			Disabled: true,
		},
		cachedsql.Rule{
			Match: cachedsql.Match{TablesAny: []string{"products", "categories"}},
		},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rules.All() {
		fmt.Printf("%s: ttl %v, max rows %d, disabled %v\n", r, r.TTL, r.MaxRows, r.Disabled)
	}
	// Output:
	// get-user: ttl 5m0s, max rows 10000, disabled false
	// no-audit: ttl 1m0s, max rows 10000, disabled true
	// rule 3: ttl 1m0s, max rows 10000, disabled false
}

func ExampleLoadRules() {
	// A folder is read recursively, its files in lexical order.
	rules, err := cachedsql.LoadRules(filepath.Join(rulesTestdata, "good"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rules.All() {
		fmt.Printf("%s: ttl %v\n", r.Name, r.TTL)
	}
	// Output:
	// get-user: ttl 5m0s
	// no-orders: ttl 2m0s
	// products: ttl 30s
	// catalog: ttl 1m0s
	// prices: ttl 1m0s
	// account: ttl 1m0s
	// membership: ttl 10m0s
	// prices-list: ttl 1m0s
	// daily-sales: ttl 1h0m0s
	// top-customers: ttl 1m0s
	// everything-else: ttl 10s
}

func ExampleParseRules_errors() {
	data := []byte(`version: 1
rules:
  - name: users
    match: {tables_any: [users]}
    ttl: 30
  - name: users
    match: {regexp: "from (users"}
`)
	_, err := cachedsql.ParseRules("cache.yaml", data)
	fmt.Println(err)

	var re *cachedsql.RuleError
	if errors.As(err, &re) {
		fmt.Printf("first problem: line %d, rule %q\n", re.Line, re.Rule)
	}
	// Output:
	// cache.yaml:5:10: ttl: bad duration "30": durations need a unit, e.g. 30s
	// cache.yaml:6:11: duplicate rule name "users" (first at cache.yaml:3)
	// cache.yaml:7:21: bad regexp: missing closing ): `from (users`
	// first problem: line 5, rule "users"
}

func ExampleRules_Match() {
	rules, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "get-user", Match: cachedsql.Match{QueryName: "GetUser"}, TTL: 5 * time.Minute},
		cachedsql.Rule{Name: "rest", Match: cachedsql.Match{Default: true}},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, query := range []string{
		"-- name: GetUser :one\nSELECT * FROM users WHERE id = $1",
		"SELECT * FROM products",
		"UPDATE users SET name = $1 WHERE id = $2",
	} {
		if r := rules.Match(keying.Analyze(query)); r != nil {
			fmt.Printf("%s for %v\n", r.Name, r.TTL)
		} else {
			fmt.Println("not cached")
		}
	}
	// Output:
	// get-user for 5m0s
	// rest for 1m0s
	// not cached
}

func ExampleWatchRules() {
	dir, _ := os.MkdirTemp("", "rules")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("version: 1\nrules:\n  - name: all\n    match: { default: true }\n    ttl: 1m\n"), 0o644)
	db, err := cachedsql.Open("sqlite3", filepath.Join(dir, "app.db"), cachedsql.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop() // ends the watch
	err = cachedsql.WatchRules(ctx, db, time.Second, func(err error) {
		if err != nil {
			log.Printf("rules not reloaded, the old ones stay in force: %v", err)
		}
	}, dir)
	if err != nil {
		fmt.Println(err) // the files do not load: the caller decides whether to start without them
		return
	}
	st, _ := cachedsql.StatsOf(db)
	fmt.Println(slices.Collect(maps.Keys(st.Rules)))
	// Output: [all]
}
