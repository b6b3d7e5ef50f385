package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
)

// TestCheck: problems exit with status 1, each with its file and line; warnings exit with status 0, or
// 1 with -strict; -dsn adds the checks of the database's catalog.
func TestCheck(t *testing.T) {
	const lint = "../../testdata/lint/warnings.yaml"
	shadowed := lint + `:7: warning: rule "user-by-id": never applies: rule "users" (` + lint + `:4) matches every statement it would`
	defaultTTL := lint + `:22: warning: rule "everything": default rule has no ttl`

	r := cmd(t, "check", "testdata/check-bad.yaml", "testdata/warm-rules.yaml")
	r.want(t, exitFailure, "cachedsql check: 3 problem(s)")
	want := "testdata/check-bad.yaml:5:22: bad regexp: missing closing ): `from (users`\n" +
		"testdata/check-bad.yaml:7:11: duplicate rule name \"users\" (first at testdata/check-bad.yaml:4)\n" +
		"testdata/warm-rules.yaml:4:11: duplicate rule name \"users\" (first at testdata/check-bad.yaml:4)\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	out := cmd(t, "check", lint).ok(t)
	for _, w := range []string{shadowed, defaultTTL, "6 rule(s): 2 warning(s)\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	r = cmd(t, "check", "-strict", lint)
	r.want(t, exitFailure)
	if !strings.Contains(r.stdout, shadowed) {
		t.Errorf("-strict: stdout lacks the warnings:\n%s", r.stdout)
	}
	out = cmdEnv(t, map[string]string{cachedsql.EnvRules: "testdata/warm-rules.yaml"}, "", "check").ok(t)
	if out != "1 rule(s): 0 warning(s)\n" {
		t.Errorf("check of %s: %q", cachedsql.EnvRules, out)
	}
}

// TestCheckDatabase: with -dsn, check warns of tables that do not exist and of row keys that are not
// unique, in SQLite and PostgreSQL.
func TestCheckDatabase(t *testing.T) {
	const lint = "../../testdata/lint/warnings.yaml"
	schema := []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`,
		`CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL)`,
		`CREATE UNIQUE INDEX accounts_email ON accounts (email)`,
	}
	wants := []string{
		lint + `:16: warning: rule "user-by-name": key (name) is not unique in table "accounts"`,
		lint + `:20: warning: rule "ghost": table "ghosts" does not exist in the database`,
		"6 rule(s): 4 warning(s)\n",
	}
	sqlitePath := filepath.Join(t.TempDir(), "check.db")
	for _, tc := range []struct{ driver, dsn string }{{"sqlite3", sqlitePath}, {"pgx", testPostgres(t)}} {
		t.Run(tc.driver, func(t *testing.T) {
			db, err := sql.Open(tc.driver, tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range schema {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			out := cmd(t, "check", lint, "-dsn", tc.dsn, "-driver", tc.driver).ok(t)
			for _, w := range wants {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}
	cmd(t, "check", lint, "-driver", "sqlite3", "-dsn", "file:"+filepath.Join(t.TempDir(), "no", "such.db")+"?mode=ro").
		want(t, exitFailure, "cachedsql: lint")
}
