package main

import (
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql/keying"
)

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{`SELECT id, name FROM users WHERE id = $1`, []string{"kind:        read", "reads:       users",
			"cacheable:   yes, when a rule matches", "row rule:    possible, key among: id"}},
		{`SELECT * FROM users WHERE id = $1 FOR UPDATE`, []string{"cacheable:   no (FOR UPDATE)"}},
		{`SELECT * FROM a JOIN b USING (id) WHERE a.id = 1`, []string{"row rule:    no (reads 2 tables)"}},
		{`UPDATE users SET name = $1 WHERE id IN ($2, $3)`, []string{"writes:      users", "row scope:   2 row(s) by id"}},
		{`INSERT INTO users (id, name) VALUES ($1, $2)`, []string{"row scope:   adds rows only"}},
		{`DELETE FROM users WHERE name = $1 OR id = $2`, []string{"row scope:   every row of the table"}},
		{`DROP TABLE users`, []string{"writes:      every table (the database's epoch)"}},
		{`SELECT tier_of($1)`, []string{"calls:       tier_of", "bypasses the cache (reason \"user-defined function\")"}},
		{`DELETE FROM customers WHERE id = $1`, []string{"foreign-key actions, triggers and views"}},
	} {
		out := cmd(t, "explain", tc.sql).ok(t)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("explain %s: no line %q in\n%s", tc.sql, w, out)
			}
		}
	}
	cmd(t, "explain").want(t, exitUsage, "no statement")
}

// TestExplainOperatorRuns is the CLI side of issue 8, item 9: explain crashed on a run of + and -.
func TestExplainOperatorRuns(t *testing.T) {
	out := cmd(t, "explain", `UPDATE acct SET bal = bal+-1 WHERE id = 1`, `SELECT * FROM acct WHERE id = 1-+-2`).ok(t)
	for _, w := range []string{"normalized:  update acct set bal = bal + - 1 where id = 1", "row scope:   1 row(s) by id",
		"row rule:    no (no equality on a column)"} {
		if !strings.Contains(out, w) {
			t.Errorf("no line %q in\n%s", w, out)
		}
	}
}

// TestExplainAnalysisPanic: a panic inside the analysis is reported for its statement, and the other
// statements are still explained.
func TestExplainAnalysisPanic(t *testing.T) {
	real := analyze
	t.Cleanup(func() { analyze = real })
	analyze = func(q string) *keying.Statement {
		if strings.Contains(q, "boom") {
			panic("injected")
		}
		return real(q)
	}
	r := cmd(t, "explain", `SELECT boom FROM t`, `SELECT 1`)
	r.want(t, exitFailure, "injected")
	for _, w := range []string{"analysis:    failed (injected)", "statement:   SELECT 1", "kind:        read"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("no line %q in\n%s", w, r.stdout)
		}
	}
}

func TestExplainSession(t *testing.T) {
	out := cmd(t, "explain", `SELECT "set_config"('search_path', 'x', false)`).ok(t)
	if w := "session:     set search_path"; !strings.Contains(out, w) {
		t.Errorf("no line %q in\n%s", w, out)
	}
}

// TestExplainRules: with -rules, explain says which rule decides for a read, its TTL and, for a row
// rule, the row key.
func TestExplainRules(t *testing.T) {
	const rules = "testdata/explain-rules.yaml"
	tests := []struct {
		sql  string
		want []string
	}{
		{`SELECT id, name FROM users WHERE id = $1`, []string{"rule:        user (testdata/explain-rules.yaml:4)", "ttl:         5m0s",
			"row key:     users (id = argument 1): one entry per row"}},
		{`SELECT count(*) FROM orders`, []string{"rule:        orders (testdata/explain-rules.yaml:9)",
			"ttl:         1m0s (stale_while_revalidate 10s, stale_if_error 0s)"}},
		{`SELECT * FROM audit`, []string{`rule:        audit (testdata/explain-rules.yaml:13), disabled: the read bypasses the cache (reason "rule disabled")`}},
		{`SELECT * FROM other`, []string{`rule:        none matches: the read bypasses the cache (reason "no rule")`}},
		{`SELECT now()`, []string{"rule:        none (not cacheable)"}},
	}
	for _, tt := range tests {
		out := cmd(t, "explain", "-rules", rules, tt.sql).ok(t)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("explain -rules %s: no line %q in\n%s", tt.sql, w, out)
			}
		}
	}
	out := cmd(t, "explain", "-rules", rules, "UPDATE users SET name = 'x' WHERE id = 1").ok(t)
	if strings.Contains(out, "rule:") {
		t.Errorf("a write has a rule line:\n%s", out)
	}
}

// TestExplainInput: statements come from arguments, from -f FILE, from stdin, or from "-"; a file holds
// several, each located by line; "--" lets a statement start with "-".
func TestExplainInput(t *testing.T) {
	const file = "testdata/explain.sql"
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"file", "", []string{"-f", file}, []string{"source:      testdata/explain.sql:3", "query name:  GetUser",
			"source:      testdata/explain.sql:5", "kind:        write", "source:      testdata/explain.sql:7", "'a;b'"}},
		{"stdin", "SELECT 1;\nSELECT 2", nil, []string{"source:      stdin:1", "statement:   SELECT 1", "source:      stdin:2", "statement:   SELECT 2"}},
		{"-f -", "SELECT 3", []string{"-f", "-"}, []string{"source:      stdin:1", "statement:   SELECT 3"}},
		{"dash argument", "SELECT 4", []string{"SELECT 5", "-"}, []string{"statement:   SELECT 5", "statement:   SELECT 4"}},
		{"after --", "", []string{"--", "-- name: X :one\nSELECT 6"}, []string{"query name:  X", "normalized:  select 6"}},
		{"comment first", "", []string{"-- name: Y :one\nSELECT 7"}, []string{"query name:  Y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := cmdEnv(t, nil, tc.stdin, append([]string{"explain"}, tc.args...)...).ok(t)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("no line %q in\n%s", w, out)
				}
			}
		})
	}
	cmdEnv(t, nil, "  \n", "explain").want(t, exitUsage, "no statement")
}
