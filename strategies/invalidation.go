package strategies

import (
	"database/sql/driver"
	"slices"

	"github.com/cachedsql/cachedsql/keying"
)

// ArgValue returns the value v stands for in a statement run with args: the argument it names (by
// name, or by ordinal), or its literal text. It reports false when args lack that argument.
func ArgValue(v keying.Value, args []driver.NamedValue) (any, bool) {
	switch {
	case v.IsLiteral:
		return v.Literal, true
	case v.Name != "":
		for _, a := range args {
			if a.Name == v.Name {
				return a.Value, true
			}
		}
	case v.Ordinal > 0:
		if v.Ordinal <= len(args) && args[v.Ordinal-1].Ordinal == v.Ordinal && args[v.Ordinal-1].Name == "" {
			return args[v.Ordinal-1].Value, true
		}
		for _, a := range args {
			if a.Ordinal == v.Ordinal {
				return a.Value, true
			}
		}
	}
	return nil, false
}

// ResolvePins returns the values of the rows a write is pinned to, per row in pins.Columns order, with
// []byte values copied (the caller of the write may reuse its arguments once the write returns). It
// reports false when one value is an argument that args lack: the write is then not pinned.
func ResolvePins(pins *keying.Pins, args []driver.NamedValue) ([][]any, bool) {
	out := make([][]any, len(pins.Rows))
	for i, row := range pins.Rows {
		out[i] = make([]any, len(row))
		for j, v := range row {
			x, ok := ArgValue(v, args)
			if !ok {
				return nil, false
			}
			if b, isBytes := x.([]byte); isBytes && b != nil {
				x = slices.Clone(b)
			}
			out[i][j] = x
		}
	}
	return out, true
}

// RowTokens returns the generation tokens that a write to table replaces for the row entries keyed by
// the columns keySet: the tokens of the rows it is pinned to when its pins cover keySet (vals holds the
// pinned values, from ResolvePins), and otherwise the keyed token, which every row entry of that key
// set records. pins nil means a write not pinned to rows. A value that cannot be canonicalized
// (keying.RowHash) also falls back to the keyed token: over-invalidating is always safe.
func RowTokens(l keying.Layout, table string, keySet []string, pins *keying.Pins, vals [][]any) []string {
	keyed := []string{l.KeyedToken(table, keySet)}
	if pins == nil {
		return keyed
	}
	idx := make([]int, len(keySet))
	for i, c := range keySet {
		if idx[i] = slices.Index(pins.Columns, c); idx[i] < 0 {
			return keyed
		}
	}
	out := make([]string, 0, len(vals))
	proj := make([]any, len(keySet))
	for _, row := range vals {
		for i, j := range idx {
			proj[i] = row[j]
		}
		h, ok := keying.RowHash(table, keySet, proj)
		if !ok {
			return keyed
		}
		out = append(out, l.RowToken(h))
	}
	return out
}
