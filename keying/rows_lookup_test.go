package keying

import (
	"reflect"
	"strings"
	"testing"
)

func TestLookupReasons(t *testing.T) {
	tests := []struct {
		name, query, reason string
	}{
		{"write", "UPDATE users SET a = 1 WHERE id = $1", "not a cacheable read"},
		{"volatile", "SELECT * FROM users WHERE id = $1 AND t < now()", "not a cacheable read"},
		{"locking", "SELECT * FROM users WHERE id = $1 FOR SHARE", "not a cacheable read"},
		{"several statements", "SELECT * FROM users WHERE id = 1; SELECT 2", "not a cacheable read"},
		{"no table", "SELECT $1::int", "reads 0 tables"},
		{"two tables", "SELECT * FROM users, orgs WHERE users.id = $1", "reads 2 tables"},
		{"subquery reading another table", "SELECT * FROM users WHERE org IN (SELECT id FROM orgs)", "reads 2 tables"},
		{"no WHERE", "SELECT id FROM users LIMIT 10", "no WHERE clause"},
		{"top-level OR", "SELECT * FROM users WHERE id = $1 OR org = $2", "WHERE is not an AND chain"},
		{"MySQL ||", "SELECT * FROM users WHERE id = ? || org = ?", "WHERE is not an AND chain"},
		{"XOR", "SELECT * FROM users WHERE id = ? XOR org = ?", "WHERE is not an AND chain"},
		{"self join", "SELECT * FROM users a JOIN users b ON a.boss = b.id WHERE a.id = $1", "join"},
		{"comma join", "SELECT * FROM users a, users b WHERE a.id = $1", "join"},
		{"natural join", "SELECT * FROM users NATURAL JOIN users WHERE id = $1", "join"},
		{"subquery in WHERE", "SELECT * FROM users WHERE id = $1 AND EXISTS (SELECT 1 FROM users u WHERE u.boss = $1)", "subquery"},
		{"subquery in select list", "SELECT (SELECT count(*) FROM users), id FROM users WHERE id = $1", "subquery"},
		{"derived table", "SELECT * FROM (SELECT * FROM users) u WHERE id = $1", "subquery"},
		{"union", "SELECT id FROM users WHERE id = 1 UNION ALL SELECT id FROM users WHERE id = 2", "set operation"},
		{"except", "SELECT id FROM users WHERE id = 1 EXCEPT SELECT id FROM users WHERE id = 2", "set operation"},
		{"WITH", "WITH u AS (SELECT * FROM users) SELECT * FROM u WHERE id = $1", "WITH clause"},
		{"GROUP BY", "SELECT org, count(*) FROM users WHERE org = $1 GROUP BY org", "GROUP BY"},
		{"HAVING", "SELECT count(*) FROM users WHERE org = $1 HAVING count(*) > 1", "GROUP BY"},
		{"window", "SELECT rank() OVER w FROM users WHERE org = $1 WINDOW w AS (ORDER BY id)", "window function"},
		{"only IN", "SELECT * FROM users WHERE id IN ($1, $2)", "no equality on a column"},
		{"expression", "SELECT * FROM users WHERE id = $1 + 1", "no equality on a column"},
		{"function of a column", "SELECT * FROM users WHERE lower(email) = $1", "no equality on a column"},
		{"column against column", "SELECT * FROM users WHERE id = boss", "no equality on a column"},
		{"NULL", "SELECT * FROM users WHERE id = NULL", "no equality on a column"},
		{"TABLE", "TABLE users", "not a plain SELECT"},
		{"column aliases", "SELECT * FROM users u(a) WHERE a = $1", "FROM clause not understood"},
		{"index hint", "SELECT * FROM users FORCE INDEX (pk) WHERE id = ?", "FROM clause not understood"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lk, reason := Analyze(tt.query).Lookup()
			if lk != nil || reason != tt.reason {
				t.Errorf("Lookup(%q) = %+v, %q; want nil, %q", tt.query, lk, reason, tt.reason)
			}
		})
	}
}

func TestLookupShape(t *testing.T) {
	tests := []struct {
		name, query string
		want        Lookup
	}{
		{"one column", "SELECT * FROM users WHERE id = $1",
			Lookup{"users", []string{"id"}, []Value{{Ordinal: 1}}}},
		{"columns sorted, values follow", "SELECT * FROM Users WHERE org = ? AND \"Id\" = ? AND kind = 'a'",
			Lookup{"users", []string{"Id", "kind", "org"}, []Value{{Ordinal: 2}, {Literal: "a", IsLiteral: true}, {Ordinal: 1}}}},
		{"first value wins", "SELECT * FROM users WHERE id = $2 AND id = $1",
			Lookup{"users", []string{"id"}, []Value{{Ordinal: 2}}}},
		{"qualified by schema and alias", "SELECT u.* FROM app.users AS u WHERE app.users.a = 1 AND u.b = -2 AND users.c = ?3",
			Lookup{"users", []string{"a", "b", "c"}, []Value{{Literal: "1", IsLiteral: true}, {Literal: "-2", IsLiteral: true}, {Ordinal: 3}}}},
		{"other conjuncts narrow", "SELECT * FROM users WHERE score > 3 AND (a = 1 OR b = 2) AND id = @id ORDER BY id LIMIT 1 OFFSET 2",
			Lookup{"users", []string{"id"}, []Value{{Name: "id"}}}},
		{"DISTINCT ON", "SELECT DISTINCT ON (org) id FROM users WHERE org = $1",
			Lookup{"users", []string{"org"}, []Value{{Ordinal: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lk, reason := Analyze(tt.query).Lookup()
			if lk == nil || !reflect.DeepEqual(*lk, tt.want) {
				t.Errorf("Lookup(%q) = %+v, %q; want %+v", tt.query, lk, reason, tt.want)
			}
		})
	}
}

func TestPinsMaxRows(t *testing.T) {
	list := func(n int) string {
		vals := make([]string, n)
		for i := range vals {
			vals[i] = itoa(i + 1)
		}
		return strings.Join(vals, ", ")
	}
	tests := []struct {
		name  string
		query string
		rows  int // -1: not pinned
	}{
		{"IN list at the limit", "DELETE FROM t WHERE id IN (" + list(MaxPinnedRows) + ")", MaxPinnedRows},
		{"IN list over the limit", "DELETE FROM t WHERE id IN (" + list(MaxPinnedRows+1) + ")", -1},
		{"duplicates count once", "DELETE FROM t WHERE id IN (" + list(MaxPinnedRows) + ", 1, 2)", MaxPinnedRows},
		{"product at the limit", "DELETE FROM t WHERE a IN (" + list(10) + ") AND b IN (" + list(100) + ")", MaxPinnedRows},
		{"product over the limit", "DELETE FROM t WHERE a IN (" + list(10) + ") AND b IN (" + list(101) + ")", -1},
		{"VALUES at the limit", "INSERT INTO t (id) VALUES " + strings.Repeat("(1), ", MaxPinnedRows-1) + "(2)", 2},
		{"VALUES over the limit", "INSERT INTO t (id) VALUES " + strings.Repeat("(1), ", MaxPinnedRows) + "(2)", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pn := Analyze(tt.query).Pins()
			switch {
			case tt.rows < 0 && pn != nil:
				t.Errorf("pinned %d rows, want not pinned", len(pn.Rows))
			case tt.rows >= 0 && (pn == nil || len(pn.Rows) != tt.rows):
				t.Errorf("pins = %v, want %d rows", pn != nil, tt.rows)
			}
		})
	}
}

// TestPinsPlaceholderOrdinals checks how placeholders become Values: bare ?
// count across the whole statement, and mixing them with numbered or named
// placeholders (numbered differently by SQLite) makes them unknown.
func TestPinsPlaceholderOrdinals(t *testing.T) {
	tests := []struct {
		query string
		want  []Value // the pinned row, in column order
	}{
		{"UPDATE t SET a = ?, b = ? WHERE c = ? AND d = ?", []Value{{Ordinal: 3}, {Ordinal: 4}}},
		{"UPDATE t SET a = ? WHERE c = ?7 AND d = ?", []Value{{Ordinal: 7}}},
		{"UPDATE t SET a = :a WHERE c = ? AND d = :d", []Value{{Name: "d"}}},
		{"UPDATE t SET a = '?' WHERE c = ? AND d = ?", []Value{{Ordinal: 1}, {Ordinal: 2}}},
		{"UPDATE t SET a = 1 WHERE c = $01 AND d = $0", []Value{{Ordinal: 1}}},
		{"UPDATE t SET a = 1 WHERE c = @userId AND d = :Other_1", []Value{{Name: "userId"}, {Name: "Other_1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			pn := Analyze(tt.query).Pins()
			if pn == nil || len(pn.Rows) != 1 || !reflect.DeepEqual(pn.Rows[0], tt.want) {
				t.Fatalf("Pins(%q) = %+v, want one row %+v", tt.query, pn, tt.want)
			}
		})
	}
}
