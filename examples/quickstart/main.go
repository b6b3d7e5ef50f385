// Quickstart caches the reads of a SQLite database in process memory, with rules loaded from the
// rules.yaml file next to it: a first read misses, a second one hits, a write replaces the orders
// table's generation token, and the next read is fresh.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	_ "github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
)

//go:embed rules.yaml
var rulesYAML []byte

func main() {
	// Ctrl-C cancels the context: the run stops and the temporary folder is removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runInTemp(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// runInTemp runs the quickstart on a SQLite file in a temporary folder, which it removes.
func runInTemp(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "cachedsql-quickstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return run(ctx, out, filepath.Join(dir, "shop.db"))
}

// run opens the SQLite file at path through the cache and shows a miss, a hit, a write and a fresh read.
func run(ctx context.Context, out io.Writer, path string) error {
	// --- quickstart ---
	rules, err := cachedsql.ParseRules("rules.yaml", rulesYAML) // or cachedsql.LoadRules("rules.yaml")
	if err != nil {
		return err
	}
	// No Redis in the options: the cache lives in process memory.
	db, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: rules})
	if err != nil {
		return err
	}
	defer db.Close()

	if err := setup(ctx, db); err != nil {
		return err
	}
	read := func(what string) error {
		var n, sum int
		before, _ := cachedsql.StatsOf(db) // the cache's counters say what it did with the read
		err := db.QueryRowContext(ctx, `SELECT count(*), sum(amount) FROM orders WHERE customer = ?`, "ann").Scan(&n, &sum)
		after, _ := cachedsql.StatsOf(db)
		fmt.Fprintf(out, "%s (%s): ann has %d orders worth %d\n", what, outcome(before, after), n, sum)
		return err
	}
	if err := read("first read"); err != nil {
		return err
	}
	if err := read("second read"); err != nil {
		return err
	}
	// A write through the wrapper replaces the orders table's token before it returns.
	if _, err := db.ExecContext(ctx, `INSERT INTO orders (customer, amount) VALUES (?, ?)`, "ann", 5); err != nil {
		return err
	}
	if err := read("read after a write"); err != nil {
		return err
	}
	st, _ := cachedsql.StatsOf(db)
	fmt.Fprintf(out, "stats: hits=%d misses=%d fills=%d invalidations=%d\n", st.Hits, st.Misses, st.Fills, st.Invalidations)
	// --- end quickstart ---
	return nil
}

// outcome names what the cache did with one read, from its counters before and after it.
func outcome(before, after cachedsql.Stats) string {
	switch {
	case after.Hits > before.Hits:
		return "hit"
	case after.Misses > before.Misses:
		return "miss"
	}
	for reason, n := range after.Bypasses {
		if n > before.Bypasses[reason] {
			return "bypass: " + reason.String()
		}
	}
	return "not cached"
}

// setup creates the orders table with two orders of ann's and one of bob's.
func setup(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `
		CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount INTEGER NOT NULL);
		INSERT INTO orders (customer, amount) VALUES ('ann', 10), ('ann', 20), ('bob', 7);`)
	return err
}
