package strategies

import (
	"database/sql/driver"
	"slices"

	"github.com/cachedsql/cachedsql/keying"
)

// LookupArgs returns, for each row a write is pinned to (pins, with the values vals from ResolvePins),
// the arguments with which the row lookup lk reads that row back: each placeholder of lk's equalities
// takes the written row's value for its column, and extras (arguments of lk's statement that are not
// equality values, such as GORM's LIMIT $2, as a read passed them) are added. The arguments are ordered
// as database/sql orders them. It reports false when the write does not give a value for every
// placeholder of lk's equalities.
func LookupArgs(lk *keying.Lookup, pins *keying.Pins, vals [][]any, extras []driver.NamedValue) ([][]driver.NamedValue, bool) {
	idx := make([]int, len(lk.Columns))
	for i, c := range lk.Columns {
		idx[i] = slices.Index(pins.Columns, c)
		if idx[i] < 0 && !lk.Values[i].IsLiteral {
			return nil, false
		}
	}
	out := make([][]driver.NamedValue, 0, len(vals))
	for _, row := range vals {
		args := make([]driver.NamedValue, 0, len(lk.Values)+len(extras))
		for i, v := range lk.Values {
			if !v.IsLiteral {
				args = append(args, driver.NamedValue{Name: v.Name, Ordinal: v.Ordinal, Value: row[idx[i]]})
			}
		}
		args = append(args, extras...)
		out = append(out, numberArgs(args))
	}
	return out, true
}

// numberArgs orders arguments as database/sql passes them: positional ones by ordinal (a placeholder
// used twice once), then named ones, whose ordinals follow.
func numberArgs(args []driver.NamedValue) []driver.NamedValue {
	slices.SortStableFunc(args, func(a, b driver.NamedValue) int {
		switch {
		case a.Name == "" && b.Name == "":
			return a.Ordinal - b.Ordinal
		case a.Name == "":
			return -1
		case b.Name == "":
			return 1
		}
		return 0
	})
	out := args[:0]
	for _, a := range args {
		if a.Name == "" && len(out) > 0 && out[len(out)-1].Name == "" && out[len(out)-1].Ordinal == a.Ordinal {
			continue // one placeholder used twice
		}
		if a.Name != "" {
			if slices.ContainsFunc(out, func(o driver.NamedValue) bool { return o.Name == a.Name }) {
				continue
			}
			a.Ordinal = len(out) + 1
		}
		out = append(out, a)
	}
	return out
}
