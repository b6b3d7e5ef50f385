package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
)

const warmRulesFile = "testdata/warm-rules.yaml"

// warmDB creates a SQLite file with users and orders and returns its path.
func warmDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warm.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO users VALUES (1, 'ann'), (2, 'bob')`,
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

// warmArgs returns the arguments of `cachedsql warm` for the database at path, the test's Redis
// namespace ns and the warm file.
func warmArgs(t *testing.T, path, ns, file string) []string {
	t.Helper()
	return []string{"-driver", "sqlite3", "-dsn", path, "-rules", warmRulesFile,
		"-redis", redisURL(t), "-namespace", ns, "-file", file}
}

// TestRunWarm: `cachedsql warm` stores the results the rules cache, so that an application opening
// the same database with the same store and namespace hits at once.
func TestRunWarm(t *testing.T) {
	ctx := context.Background()
	path := warmDB(t)
	ns := testNamespace(t)
	var out bytes.Buffer
	if err := runWarm(ctx, warmArgs(t, path, ns, "testdata/warm.yaml"), &out); err != nil {
		t.Fatalf("runWarm: %v\n%s", err, out.String())
	}
	if got, want := out.String(), "warm: ran 3 of 3 statements, stored 2 results\n"; got != want {
		t.Errorf("output: got %q, want %q", got, want)
	}

	rules, err := cachedsql.LoadRules(warmRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	app, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: rules, Redis: testRedis(t), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	var name string
	if err := app.QueryRowContext(ctx, `SELECT id, name FROM users WHERE id = ?`, 1).Scan(new(int64), &name); err != nil {
		t.Fatal(err)
	}
	rows, err := app.QueryContext(ctx, `SELECT id, name FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := cachedsql.StatsOf(app)
	if st.Hits != 2 || st.Misses != 0 {
		t.Errorf("application reads after warm: %d hits, %d misses; want 2 and 0", st.Hits, st.Misses)
	}
}

// TestRunWarmBadFile: a warm file that cannot be used is reported with its name and the line at
// fault; a statement that fails stops the run with its error.
func TestRunWarmBadFile(t *testing.T) {
	tests := []struct {
		file string
		want []string // in the error
	}{
		{"testdata/warm-unknown-field.yaml", []string{"testdata/warm-unknown-field.yaml", "line 4", "arguments"}},
		{"testdata/warm-syntax.yaml", []string{"testdata/warm-syntax.yaml", "line 4"}},
		{"testdata/warm-empty-query.yaml", []string{"testdata/warm-empty-query.yaml", "line 3", "query is empty"}},
		{"testdata/warm-bad-statement.yaml", []string{"no such table: missing"}},
		{"testdata/missing.yaml", []string{"testdata/missing.yaml"}},
	}
	path := warmDB(t)
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			ns := testNamespace(t)
			var out bytes.Buffer
			err := runWarm(context.Background(), warmArgs(t, path, ns, tt.file), &out)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
