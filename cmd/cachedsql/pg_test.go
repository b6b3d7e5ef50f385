package main

import (
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
		wantCode     int
		wantTriggers int
	}{
		{"install tables", []string{"install", "-dsn", dsn, "-channel", "chan_x", "-tables", "a, b"}, exitOK, 2},
		{"uninstall", []string{"uninstall", "-dsn", dsn}, exitOK, 0},
		{"install all", []string{"install", "-dsn", dsn}, exitOK, 3},
		{"uninstall again", []string{"uninstall", "-dsn", dsn}, exitOK, 0},
		{"no dsn", []string{"install"}, exitUsage, 0},
		{"no subcommand", nil, exitUsage, 0},
		{"unknown subcommand", []string{"reinstall", "-dsn", dsn}, exitUsage, 0},
		{"unknown table", []string{"install", "-dsn", dsn, "-tables", "nope"}, exitFailure, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cmd(t, append([]string{"pg"}, tc.args...)...)
			if r.code != tc.wantCode {
				t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			if got := pgTriggers(t, db); got != tc.wantTriggers {
				t.Errorf("triggers: got %d, want %d", got, tc.wantTriggers)
			}
		})
	}
}
