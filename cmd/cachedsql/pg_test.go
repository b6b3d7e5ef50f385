package main

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
)

// pgTriggers counts the pgsignal triggers in the current schema of db.
func pgTriggers(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	err := db.QueryRow(`SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		WHERE g.tgname = 'cachedsql_notify' AND c.relnamespace = current_schema()::regnamespace`).Scan(&n)
	if err != nil {
		t.Fatalf("count triggers: %v", err)
	}
	return n
}

// TestRunPG: `cachedsql pg install` covers the named tables (or all), `pg uninstall` removes the
// triggers, and mistakes are refused.
func TestRunPG(t *testing.T) {
	ctx := context.Background()
	dsn := testPostgres(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE TABLE a (id int)", "CREATE TABLE b (id int)", "CREATE TABLE c (id int)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, tc := range []struct {
		name         string
		args         []string
		wantErr      bool
		wantTriggers int
	}{
		{"install tables", []string{"install", "-dsn", dsn, "-channel", "chan_x", "-tables", "a, b"}, false, 2},
		{"uninstall", []string{"uninstall", "-dsn", dsn}, false, 0},
		{"install all", []string{"install", "-dsn", dsn}, false, 3},
		{"uninstall again", []string{"uninstall", "-dsn", dsn}, false, 0},
		{"no dsn", []string{"install"}, true, 0},
		{"no subcommand", nil, true, 0},
		{"unknown subcommand", []string{"reinstall", "-dsn", dsn}, true, 0},
		{"unknown table", []string{"install", "-dsn", dsn, "-tables", "nope"}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(ctx, append([]string{"pg"}, tc.args...), &out)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("run: got error %v, want error %v\n%s", err, tc.wantErr, out.String())
			}
			if got := pgTriggers(t, db); got != tc.wantTriggers {
				t.Errorf("triggers: got %d, want %d", got, tc.wantTriggers)
			}
		})
	}
}
