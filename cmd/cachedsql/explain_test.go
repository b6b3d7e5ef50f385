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
		var out strings.Builder
		if err := runExplain([]string{tc.sql}, &out); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("explain %s: no line %q in\n%s", tc.sql, w, out.String())
			}
		}
	}
	if err := runExplain(nil, &strings.Builder{}); err == nil {
		t.Error("explain with no statement: no error")
	}
}

// TestExplainOperatorRuns is the CLI side of issue 8, item 9: explain crashed on a run of + and -.
func TestExplainOperatorRuns(t *testing.T) {
	var out strings.Builder
	err := runExplain([]string{`UPDATE acct SET bal = bal+-1 WHERE id = 1`, `SELECT * FROM acct WHERE id = 1-+-2`}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"normalized:  update acct set bal = bal + - 1 where id = 1", "row scope:   1 row(s) by id",
		"row rule:    no (no equality on a column)"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no line %q in\n%s", w, out.String())
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
	var out strings.Builder
	err := runExplain([]string{`SELECT boom FROM t`, `SELECT 1`}, &out)
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Errorf("got error %v, want one naming the panic", err)
	}
	for _, w := range []string{"analysis:    failed (injected)", "statement:   SELECT 1", "kind:        read"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no line %q in\n%s", w, out.String())
		}
	}
}

func TestExplainSession(t *testing.T) {
	var out strings.Builder
	if err := runExplain([]string{`SELECT "set_config"('search_path', 'x', false)`}, &out); err != nil {
		t.Fatal(err)
	}
	if w := "session:     set search_path"; !strings.Contains(out.String(), w) {
		t.Errorf("no line %q in\n%s", w, out.String())
	}
}
