package cachedsql

import (
	"bytes"
	"context"
	"database/sql/driver"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/cachedsql/cachedsql/keying"
	"github.com/cachedsql/cachedsql/strategies"
)

// Row entries (see the package doc, "Row rules"). The entry of a row rule is one row, stored as a hash
// under a key that starts with its row's token key (so both share a Redis Cluster slot), and it records
// three generation tokens:
//
//	epoch             replaced by DDL and by writes to unknown tables, as for every entry
//	keyed(table, key) replaced by every write to the table that is not pinned to values of key
//	row(table, key=v) replaced by writes pinned to the row's key values
//
// Result-set entries record the table's token, which every write to the table replaces. A write pinned
// to rows by some key therefore leaves other rows' entries valid. Which column sets key the row entries
// of a table is a matter of the rules of every process sharing the store, so each process registers its
// own in a set in the store (keying.Layout.Keysets) before filling, and writers read that set in the
// same round trip as their token replacement.

// rowPlan is what a plan of a row rule's statement knows.
type rowPlan struct {
	shape *rowShape
	// keyed is the keyed token key; keysets the registry of the table's key column sets, and member
	// this rule's name in it.
	keyed, keysets, member string
	// state is the rule's, shared by the plans of every statement text the rule matches.
	state *rowState
}

// rowState is what one engine learns about a row rule from its reads, whatever statement text (spacing,
// comments) they arrived with: write-through, which runs the rule's own text, needs it.
type rowState struct {
	// registered is set once this process has added the rule's key set to the store's registry.
	registered atomic.Bool
	// read holds the arguments of the last read ([]byte values copied), or nil until one is seen.
	// Write-through passes the same arguments that are not values of the lookup's equalities (GORM passes
	// LIMIT 1 as an argument), and gives the written key values the Go types the read gave them, so that
	// its entry is the one reads look up.
	read atomic.Pointer[[]driver.NamedValue]
}

func (e *engine) newRowPlan(rs *ruleSet, r *Rule) *rowPlan {
	sh := r.row
	st := rs.states[r]
	if st == nil { // not one of e's rules: cannot happen, but a private state is always correct
		st = new(rowState)
	}
	return &rowPlan{
		shape:   sh,
		keyed:   e.layout.KeyedToken(sh.table, sh.key),
		keysets: e.layout.Keysets(sh.table),
		member:  keying.KeysetName(sh.key),
		state:   st,
	}
}

// rowTarget names the row entry a read of a row rule's statement with args looks up, and the tokens it
// records. Otherwise it returns why the read bypasses the cache: a key value cannot be canonicalized
// (BypassArgument), or analysing the arguments panicked (BypassAnalysisFailed, a defect of this package).
func (e *engine) rowTarget(p *plan, args []driver.NamedValue, h keying.Hash, req *strategies.Request) (why BypassReason) {
	defer func() {
		if r := recover(); r != nil {
			e.analysisFailed("row", r)
			why = BypassAnalysisFailed
		}
	}()
	if e.opts.test.analysis != nil {
		e.opts.test.analysis("row", p.st.Query)
	}
	sh := p.row.shape
	vals := make([]any, len(sh.vals))
	for i, v := range sh.vals {
		x, ok := strategies.ArgValue(v, args)
		if !ok {
			return BypassArgument
		}
		vals[i] = x
	}
	rh, ok := keying.RowHash(sh.table, sh.key, vals)
	if !ok {
		return BypassArgument
	}
	row := e.layout.RowToken(rh)
	req.Key = e.entries.RowEntry(row, p.st, h)
	req.TokenKeys = []string{e.layout.Epoch(), p.row.keyed, row}
	req.Guard = row
	p.row.noteRead(args)
	return bypassNone
}

// isLookup reports whether a is the value of one of the lookup's equalities.
func (rp *rowPlan) isLookup(a driver.NamedValue) bool {
	return slices.ContainsFunc(rp.shape.lookup.Values, func(v keying.Value) bool {
		return !v.IsLiteral && (v.Name != "" && v.Name == a.Name || v.Name == "" && a.Name == "" && v.Ordinal == a.Ordinal)
	})
}

// noteRead remembers the arguments of a read, when their extras or the types of their lookup values
// changed (a read of another key with the same types allocates nothing).
func (rp *rowPlan) noteRead(args []driver.NamedValue) {
	if old := rp.state.read.Load(); old != nil && len(*old) == len(args) {
		same := true
		for i, a := range args {
			o := (*old)[i]
			if o.Ordinal != a.Ordinal || o.Name != a.Name {
				same = false
			} else if rp.isLookup(a) {
				same = reflect.TypeOf(o.Value) == reflect.TypeOf(a.Value)
			} else {
				same = sameValue(o.Value, a.Value)
			}
			if !same {
				break
			}
		}
		if same {
			return
		}
	}
	read := make([]driver.NamedValue, len(args))
	for i, a := range args {
		if b, ok := a.Value.([]byte); ok && b != nil {
			a.Value = slices.Clone(b)
		}
		read[i] = a
	}
	rp.state.read.Store(&read)
}

// throughArgs returns the arguments with which write-through reads back each row a write pinned (see
// strategies.LookupArgs): the extras of the last read, and each key value in the Go type the last read
// gave it when it converts exactly. It reports false when the write does not give every key value.
func (rp *rowPlan) throughArgs(pins *keying.Pins, vals [][]any) ([][]driver.NamedValue, bool) {
	var read, extras []driver.NamedValue
	if x := rp.state.read.Load(); x != nil {
		read = *x
		for _, a := range read {
			if !rp.isLookup(a) {
				extras = append(extras, a)
			}
		}
	}
	rows, ok := strategies.LookupArgs(rp.shape.lookup, pins, vals, extras)
	if !ok || read == nil {
		return rows, ok
	}
	for _, args := range rows {
		for i, a := range args {
			j := slices.IndexFunc(read, func(r driver.NamedValue) bool { return r.Name == a.Name && r.Ordinal == a.Ordinal })
			if j >= 0 && rp.isLookup(a) {
				if v, ok := convertLike(a.Value, read[j].Value); ok {
					args[i].Value = v
				}
			}
		}
	}
	return rows, true
}

// convertLike returns v in the Go type of like, when v is an integer or a text and converts to that type
// exactly (an integer within range; a float holding the integer exactly; a text that is exactly the
// decimal form of an integer; an integer as its decimal text; text to text).
func convertLike(v, like any) (any, bool) {
	if v == nil || like == nil {
		return nil, false
	}
	tv, tl := reflect.TypeOf(v), reflect.TypeOf(like)
	if tv == tl {
		return v, true
	}
	rv := reflect.ValueOf(v)
	out := reflect.New(tl).Elem()
	switch valueKind(tl) {
	case valInt:
		var n int64
		var u uint64
		neg := false
		switch valueKind(tv) {
		case valInt:
			if n = rv.Int(); n < 0 {
				neg = true
			} else {
				u = uint64(n)
			}
		case valUint:
			u = rv.Uint()
		case valText:
			s := textOf(rv)
			if x, err := strconv.ParseInt(s, 10, 64); err == nil && strconv.FormatInt(x, 10) == s {
				n, neg, u = x, x < 0, uint64(max(x, 0))
			} else if x, err := strconv.ParseUint(s, 10, 64); err == nil && strconv.FormatUint(x, 10) == s {
				u = x
			} else {
				return nil, false
			}
		default:
			return nil, false
		}
		if neg {
			if out.Kind() >= reflect.Uint && out.Kind() <= reflect.Uintptr || out.OverflowInt(n) {
				return nil, false
			}
			out.SetInt(n)
			return out.Interface(), true
		}
		if out.Kind() >= reflect.Uint && out.Kind() <= reflect.Uintptr {
			if out.OverflowUint(u) {
				return nil, false
			}
			out.SetUint(u)
		} else {
			if u > math.MaxInt64 || out.OverflowInt(int64(u)) {
				return nil, false
			}
			out.SetInt(int64(u))
		}
		return out.Interface(), true
	case valFloat:
		var f float64
		switch valueKind(tv) {
		case valInt:
			f = float64(rv.Int())
			if int64(f) != rv.Int() || f >= math.MaxInt64 {
				return nil, false
			}
		case valUint:
			f = float64(rv.Uint())
			if f >= math.MaxUint64 || uint64(f) != rv.Uint() {
				return nil, false
			}
		default:
			return nil, false
		}
		if out.OverflowFloat(f) || out.Kind() == reflect.Float32 && float64(float32(f)) != f {
			return nil, false
		}
		out.SetFloat(f)
		return out.Interface(), true
	case valText:
		var s string
		switch valueKind(tv) {
		case valInt:
			s = strconv.FormatInt(rv.Int(), 10)
		case valUint:
			s = strconv.FormatUint(rv.Uint(), 10)
		case valText:
			s = textOf(rv)
		default:
			return nil, false
		}
		if out.Kind() == reflect.String {
			out.SetString(s)
		} else {
			out.SetBytes([]byte(s))
		}
		return out.Interface(), true
	}
	return nil, false
}

const (
	valOther = iota
	valInt
	valUint
	valFloat
	valText
)

// valueKind sorts a Go type into signed integers, unsigned integers, floats, texts (strings and byte slices) and
// others.
func valueKind(t reflect.Type) int {
	switch k := t.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64:
		return valInt
	case k >= reflect.Uint && k <= reflect.Uint64:
		return valUint
	case k == reflect.Float32, k == reflect.Float64:
		return valFloat
	case k == reflect.String, k == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return valText
	}
	return valOther
}

// textOf returns the text of a string or byte slice value.
func textOf(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return v.String()
	}
	return string(v.Bytes())
}

// sameValue reports whether two driver values are equal (false when it cannot tell).
func sameValue(a, b any) bool {
	if x, ok := a.([]byte); ok {
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y) && (x == nil) == (y == nil)
	}
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if reflect.TypeOf(a) != reflect.TypeOf(b) || !reflect.TypeOf(a).Comparable() {
		return false
	}
	return a == b
}

// registerRow makes sure the key column set of p's row rule is in the store's registry before the
// process fills entries keyed by it, so that writers in other processes (whose rules may not know the
// key) replace the right tokens. It is one store call per plan and process.
func (e *engine) registerRow(ctx context.Context, p *plan) bool {
	if p.row.state.registered.Load() {
		return true
	}
	return e.reregisterRow(ctx, p)
}

// reregisterRow adds the key to the registry again: a read calls it when the epoch or the keyed token it
// records is missing, as after a flush of the store, which also removes the registry.
func (e *engine) reregisterRow(ctx context.Context, p *plan) bool {
	sctx, cancel := e.storeCtx(ctx)
	err := e.st.AddMembers(sctx, p.row.keysets, p.row.member)
	cancel()
	if err != nil {
		e.StoreFailed(ctx, "register key", err)
		return false
	}
	p.row.state.registered.Store(true)
	return true
}
