package strategies

import (
	"database/sql/driver"
	"reflect"
	"testing"

	"github.com/cachedsql/cachedsql/keying"
)

func TestLookupArgs(t *testing.T) {
	lookup := func(sql string) *keying.Lookup {
		t.Helper()
		lk, why := keying.Analyze(sql).Lookup()
		if lk == nil {
			t.Fatalf("%s: %s", sql, why)
		}
		return lk
	}
	pinned := func(sql string, args ...any) (*keying.Pins, [][]any) {
		t.Helper()
		pins := keying.Analyze(sql).Pins()
		nv := make([]driver.NamedValue, len(args))
		for i, a := range args {
			nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		vals, ok := ResolvePins(pins, nv)
		if !ok {
			t.Fatalf("%s: pins not resolved", sql)
		}
		return pins, vals
	}
	pos := func(vals ...any) []driver.NamedValue {
		out := make([]driver.NamedValue, len(vals))
		for i, v := range vals {
			out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
		}
		return out
	}

	pins, vals := pinned(`UPDATE users SET name = $1 WHERE id IN ($2, $3)`, "x", int64(4), int64(5))
	got, ok := LookupArgs(lookup(`SELECT * FROM users WHERE id = $1`), pins, vals, nil)
	if want := [][]driver.NamedValue{pos(int64(4)), pos(int64(5))}; !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("one row per pinned value: %v, %v", got, ok)
	}

	// Placeholders in another order than the columns, a literal, and an extra argument (LIMIT $3).
	pins, vals = pinned(`UPDATE m SET role = $1 WHERE user_id = $2 AND org_id = $3`, "x", int64(10), int64(1))
	lk := lookup(`SELECT role FROM m WHERE user_id = $2 AND org_id = $1 AND kind = 'a' LIMIT $3`)
	got, ok = LookupArgs(lk, pins, vals, []driver.NamedValue{{Ordinal: 3, Value: int64(1)}})
	if want := [][]driver.NamedValue{pos(int64(1), int64(10), int64(1))}; !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("reordered with an extra: %v, %v", got, ok)
	}

	// Named placeholders follow the positional ones.
	pins, vals = pinned(`DELETE FROM users WHERE id = $1`, int64(3))
	got, ok = LookupArgs(lookup(`SELECT * FROM users WHERE id = :id`), pins, vals, nil)
	if want := [][]driver.NamedValue{{{Name: "id", Ordinal: 1, Value: int64(3)}}}; !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("named: %v, %v", got, ok)
	}

	// The write does not give org_id: the lookup cannot be run.
	pins, vals = pinned(`UPDATE m SET role = $1 WHERE user_id = $2`, "x", int64(10))
	if got, ok := LookupArgs(lookup(`SELECT role FROM m WHERE user_id = $1 AND org_id = $2`), pins, vals, nil); ok {
		t.Errorf("a lookup value the write lacks: %v, want false", got)
	}
}
