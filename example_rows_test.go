package cachedsql_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/cachedsql/cachedsql"
)

// A row rule caches one row per key; with write-through, a write pinned to a key stores the row's new
// values before it returns, so the next read is a hit.
func ExampleRule_writeThrough() {
	dir, _ := os.MkdirTemp("", "cachedsql-example")
	defer os.RemoveAll(dir)
	dsn := filepath.Join(dir, "shop.db")

	rules, err := cachedsql.NewRules(cachedsql.Rule{
		Name:         "account",
		Match:        cachedsql.Match{SQL: "SELECT id, owner, balance FROM accounts WHERE id = ?"},
		Key:          []string{"id"}, // the primary key: the statement must compare it with an argument
		WriteThrough: true,
		TTL:          10 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	db, err := cachedsql.Open("sqlite3", dsn, cachedsql.Options{Rules: rules})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	db.ExecContext(ctx, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER)")
	db.ExecContext(ctx, "INSERT INTO accounts VALUES (1, 'ann', 100), (2, 'bob', 50)")

	balance := func(id int) (b int) {
		db.QueryRowContext(ctx, "SELECT id, owner, balance FROM accounts WHERE id = ?", id).Scan(new(int), new(string), &b)
		return b
	}
	balance(1)
	balance(2)
	// Pinned to row 1: row 2's entry stays valid, row 1's is replaced with its new values.
	db.ExecContext(ctx, "UPDATE accounts SET balance = balance - 30 WHERE id = ?", 1)

	before, _ := cachedsql.StatsOf(db)
	fmt.Println(balance(1), balance(2))
	after, _ := cachedsql.StatsOf(db)
	fmt.Println("hits:", after.Hits-before.Hits, "misses:", after.Misses-before.Misses, "written through:", after.WriteThroughs)
	// Output:
	// 70 50
	// hits: 2 misses: 0 written through: 1
}
