package main

import (
	"strings"
	"testing"
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
