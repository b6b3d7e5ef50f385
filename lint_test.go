package cachedsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// lintOf returns the warnings of Lint as "rule: check" strings.
func lintOf(t *testing.T, rs *cachedsql.Rules, db *sql.DB) []string {
	t.Helper()
	ws, err := rs.Lint(context.Background(), db)
	if err != nil {
		t.Fatalf("Lint: %v", err)
	}
	var got []string
	for _, w := range ws {
		got = append(got, w.Rule+": "+w.Check)
	}
	return got
}

// TestLintShadowed: a rule is reported when an earlier one certainly matches every statement it would,
// and only then.
func TestLintShadowed(t *testing.T) {
	const byID = `SELECT id, name FROM users WHERE id = $1`
	tests := []struct {
		name          string
		first, second cachedsql.Match
		disabled      bool
		shadowed      bool
	}{
		{"same tables_any", cachedsql.Match{TablesAny: []string{"users"}}, cachedsql.Match{TablesAny: []string{"users"}}, false, true},
		{"wider tables_any", cachedsql.Match{TablesAny: []string{"users", "orders"}}, cachedsql.Match{TablesAny: []string{"users"}}, false, true},
		{"narrower tables_any", cachedsql.Match{TablesAny: []string{"users"}}, cachedsql.Match{TablesAny: []string{"users", "orders"}}, false, false},
		{"tables_any by tables_all", cachedsql.Match{TablesAny: []string{"users"}}, cachedsql.Match{TablesAll: []string{"users", "orders"}}, false, true},
		{"tables_all by tables_all", cachedsql.Match{TablesAll: []string{"users"}}, cachedsql.Match{TablesAll: []string{"orders", "users"}}, false, true},
		{"tables_all not implied", cachedsql.Match{TablesAll: []string{"users", "orders"}}, cachedsql.Match{TablesAll: []string{"users"}}, false, false},
		{"sql read by tables_any", cachedsql.Match{TablesAny: []string{"public.Users"}}, cachedsql.Match{SQL: byID}, false, true},
		{"sql matched by regexp", cachedsql.Match{Regexp: `^select id`}, cachedsql.Match{SQL: byID}, false, true},
		{"sql not matched by regexp", cachedsql.Match{Regexp: `^select name`}, cachedsql.Match{SQL: byID}, false, false},
		{"same sql, other spelling", cachedsql.Match{SQL: byID}, cachedsql.Match{SQL: "select id,name from USERS where id=$1"}, false, true},
		{"query name needed", cachedsql.Match{QueryName: "GetUser", TablesAny: []string{"users"}}, cachedsql.Match{SQL: byID}, false, false},
		{"same query name", cachedsql.Match{QueryName: "GetUser"}, cachedsql.Match{QueryName: "GetUser", TablesAny: []string{"users"}}, false, true},
		{"fingerprint", cachedsql.Match{Fingerprint: strings.Repeat("ab", 16)}, cachedsql.Match{Fingerprint: strings.Repeat("ab", 16), TablesAny: []string{"x"}}, false, true},
		{"fingerprint unknown tables", cachedsql.Match{TablesAny: []string{"users"}}, cachedsql.Match{Fingerprint: strings.Repeat("ab", 16)}, false, false},
		{"same regexp", cachedsql.Match{Regexp: `users`}, cachedsql.Match{Regexp: `users`, TablesAny: []string{"users"}}, false, true},
		{"other regexp", cachedsql.Match{Regexp: `users`}, cachedsql.Match{Regexp: `users `}, false, false},
		{"disabled first", cachedsql.Match{TablesAny: []string{"users"}}, cachedsql.Match{SQL: byID}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := cachedsql.NewRules(
				cachedsql.Rule{Name: "first", Match: tt.first, TTL: time.Minute, Disabled: tt.disabled},
				cachedsql.Rule{Name: "second", Match: tt.second, TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			got := lintOf(t, rs, nil)
			if shadowed := slices.Contains(got, "second: shadowed"); shadowed != tt.shadowed {
				t.Errorf("warnings %q: shadowed %v, want %v", got, shadowed, tt.shadowed)
			}
			if slices.Contains(got, "first: shadowed") {
				t.Errorf("warnings %q: the first rule reported", got)
			}
		})
	}
}

// TestLintFile: warnings name the file and line of their rule; without a database only the offline
// checks run.
func TestLintFile(t *testing.T) {
	rs, err := cachedsql.LoadRules("testdata/lint/warnings.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := rs.Lint(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range ws {
		got = append(got, w.String())
	}
	want := []string{
		`testdata/lint/warnings.yaml:7: rule "user-by-id": never applies: rule "users" (testdata/lint/warnings.yaml:4) matches every statement it would`,
		`testdata/lint/warnings.yaml:22: rule "everything": default rule has no ttl: every cacheable read is cached for the built-in 1m0s; set the staleness you accept`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A ttl from the file's defaults caps the default rule.
	capped, err := cachedsql.ParseRules("capped.yaml", []byte("version: 1\ndefaults: {ttl: 10s}\nrules:\n  - name: all\n    match: {default: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := lintOf(t, capped, nil); len(got) != 0 {
		t.Errorf("default rule with a ttl from defaults: warnings %q", got)
	}
}

// lintSchema creates the tables of testdata/lint/warnings.yaml, but not ghosts: users keyed by id,
// accounts with a unique email and a name that is not unique.
var lintSchema = []string{
	`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`,
	`CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL)`,
	`CREATE UNIQUE INDEX accounts_email ON accounts (email)`,
	`CREATE INDEX accounts_name ON accounts (name)`,
}

// lintWant is what Lint reports on testdata/lint/warnings.yaml with lintSchema.
var lintWant = []string{"user-by-id: shadowed", "user-by-name: key-not-unique", "ghost: missing-table", "everything: default-ttl"}

func TestLintSQLite(t *testing.T) {
	rs, err := cachedsql.LoadRules("testdata/lint/warnings.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := sqliteFile(t, "lint.db")
	bare, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	for _, q := range lintSchema {
		if _, err := bare.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Through the parent driver, and through a caching database whose rules cache everything.
	caching, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: rs})
	if err != nil {
		t.Fatal(err)
	}
	defer caching.Close()
	for name, db := range map[string]*sql.DB{"bare": bare, "caching": caching} {
		t.Run(name, func(t *testing.T) {
			if got := lintOf(t, rs, db); !slices.Equal(got, lintWant) {
				t.Errorf("warnings %q, want %q", got, lintWant)
			}
		})
	}
	// A table created since is seen at once: the catalog is not served from the cache.
	if _, err := bare.Exec(`CREATE TABLE ghosts (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if got := lintOf(t, rs, caching); slices.Contains(got, "ghost: missing-table") {
		t.Errorf("after CREATE TABLE ghosts: warnings %q", got)
	}
}

func TestLintPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := append(slices.Clone(lintSchema),
		// A unique index with a predicate does not make a key unique.
		`CREATE TABLE tags (id int, label text)`,
		`CREATE UNIQUE INDEX tags_label ON tags (label) WHERE id > 0`,
		// A composite key is unique when the rule's key holds all its columns.
		`CREATE TABLE pairs (a int, b int, c int, PRIMARY KEY (a, b))`,
	)
	for _, q := range schema {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rs, err := cachedsql.LoadRules("testdata/lint/warnings.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := lintOf(t, rs, db); !slices.Equal(got, lintWant) {
		t.Errorf("warnings %q, want %q", got, lintWant)
	}
	rows, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "tag", Match: cachedsql.Match{SQL: `SELECT id FROM tags WHERE label = $1`}, Key: []string{"label"}},
		cachedsql.Rule{Name: "pair", Match: cachedsql.Match{SQL: `SELECT c FROM pairs WHERE a = $1 AND b = $2`}, Key: []string{"a", "b"}},
		cachedsql.Rule{Name: "half-pair", Match: cachedsql.Match{SQL: `SELECT c FROM pairs WHERE a = $1`}, Key: []string{"a"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tag: key-not-unique", "half-pair: key-not-unique"}
	if got := lintOf(t, rows, db); !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
}

// TestLintOtherDatabase: a database whose catalog Lint cannot read gives the offline warnings and an
// error.
func TestLintOtherDatabase(t *testing.T) {
	rs, err := cachedsql.NewRules(cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(fakeConnector{})
	defer db.Close()
	ws, err := rs.Lint(context.Background(), db)
	if err == nil || len(ws) != 1 || ws[0].Check != cachedsql.LintDefaultTTL {
		t.Errorf("Lint: %v, %v; want one default-ttl warning and an error", ws, err)
	}
}

// fakeConnector opens connections to no database in particular (neither PostgreSQL nor SQLite).
type fakeConnector struct{}

func (fakeConnector) Connect(context.Context) (driver.Conn, error) { return fakeConn{}, nil }
func (fakeConnector) Driver() driver.Driver                        { return nil }

type fakeConn struct{}

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fake: no statements") }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("fake: no transactions") }

// TestFirstMatch: the first matching rule decides, disabled or not; Match hides a disabled one.
func TestFirstMatch(t *testing.T) {
	rs, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "off", Match: cachedsql.Match{TablesAny: []string{"audit"}}, Disabled: true},
		cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ q, first, match string }{
		{"SELECT * FROM audit", "off", ""},
		{"SELECT * FROM users", "all", "all"},
		{"UPDATE users SET a = 1", "", ""},
	} {
		st := keying.Analyze(tt.q)
		name := func(r *cachedsql.Rule) string {
			if r == nil {
				return ""
			}
			return r.Name
		}
		if got := name(rs.FirstMatch(st)); got != tt.first {
			t.Errorf("FirstMatch(%s) = %q, want %q", tt.q, got, tt.first)
		}
		if got := name(rs.Match(st)); got != tt.match {
			t.Errorf("Match(%s) = %q, want %q", tt.q, got, tt.match)
		}
	}
}
