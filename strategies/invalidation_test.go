package strategies

import (
	"database/sql/driver"
	"slices"
	"testing"

	"github.com/cachedsql/cachedsql/keying"
)

func TestArgValue(t *testing.T) {
	args := []driver.NamedValue{{Ordinal: 1, Value: int64(7)}, {Ordinal: 2, Name: "org", Value: "acme"}}
	for _, tc := range []struct {
		v    keying.Value
		want any
		ok   bool
	}{
		{keying.Value{Ordinal: 1}, int64(7), true},
		{keying.Value{Name: "org"}, "acme", true},
		{keying.Value{Literal: "5", IsLiteral: true}, "5", true},
		{keying.Value{Ordinal: 3}, nil, false},
		{keying.Value{Name: "nope"}, nil, false},
	} {
		got, ok := ArgValue(tc.v, args)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ArgValue(%+v) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

func TestResolvePinsCopiesBytes(t *testing.T) {
	pins := keying.Analyze(`UPDATE t SET x = 1 WHERE k = $1`).Pins()
	b := []byte("key")
	vals, ok := ResolvePins(pins, []driver.NamedValue{{Ordinal: 1, Value: b}})
	if !ok || len(vals) != 1 {
		t.Fatalf("ResolvePins = %v, %v", vals, ok)
	}
	b[0] = 'X'
	if got := string(vals[0][0].([]byte)); got != "key" {
		t.Errorf("pinned value follows the caller's buffer: %q", got)
	}
	if _, ok := ResolvePins(pins, nil); ok {
		t.Error("ResolvePins without the argument: ok")
	}
}

// TestRowTokens checks the invalidation scope of writes on a table whose row entries are keyed by
// (org, id): a write pinned to both names its rows (spelled as reads spell them), any other write the
// keyed token.
func TestRowTokens(t *testing.T) {
	l := keying.NewLayout("ns", "db")
	ks := []string{"id", "org"}
	keyed := l.KeyedToken("users", ks)
	row := func(org, id any) string {
		h, ok := keying.RowHash("users", ks, []any{id, org})
		if !ok {
			t.Fatal("RowHash failed")
		}
		return l.RowToken(h)
	}
	tokens := func(sql string, args ...any) []string {
		t.Helper()
		st := keying.Analyze(sql)
		nv := make([]driver.NamedValue, len(args))
		for i, a := range args {
			nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		pins := st.Pins()
		var vals [][]any
		if pins != nil {
			var ok bool
			if vals, ok = ResolvePins(pins, nv); !ok {
				t.Fatalf("%s: pins not resolved", sql)
			}
		}
		return RowTokens(l, "users", ks, pins, vals)
	}
	for _, tc := range []struct {
		sql  string
		args []any
		want []string
	}{
		{`UPDATE users SET name = $1 WHERE org = $2 AND id = $3`, []any{"x", int64(1), int64(7)}, []string{row(int64(1), int64(7))}},
		{`UPDATE users SET name = $1 WHERE org = $2 AND id = $3`, []any{"x", "1", " 7 "}, []string{row(int64(1), int64(7))}},
		{`DELETE FROM users WHERE org = 1 AND id IN (7, 8)`, nil, []string{row(1, 7), row(1, 8)}},
		{`UPDATE users SET name = $1 WHERE id = $2`, []any{"x", int64(7)}, []string{keyed}},
		{`UPDATE users SET name = $1 WHERE name = $2`, []any{"x", "y"}, []string{keyed}},
		{`UPDATE users SET name = $1 WHERE org = $2 AND id = $3`, []any{"x", struct{}{}, int64(7)}, []string{keyed}},
		{`TRUNCATE users`, nil, []string{keyed}},
	} {
		if got := tokens(tc.sql, tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("%s %v:\n got %q\nwant %q", tc.sql, tc.args, got, tc.want)
		}
	}
}
