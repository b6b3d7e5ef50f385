package cachedsql

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

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
	// registered is set once this process has added member to keysets.
	registered atomic.Bool
	// extras are the last arguments a read passed that are not values of the lookup's equalities (GORM
	// passes LIMIT 1 as an argument): write-through passes the same, so that its entry is the one reads
	// look up. Nil until a read has been seen.
	extras atomic.Pointer[[]driver.NamedValue]
}

func (e *engine) newRowPlan(r *Rule) *rowPlan {
	sh := r.row
	return &rowPlan{
		shape:   sh,
		keyed:   e.layout.KeyedToken(sh.table, sh.key),
		keysets: e.layout.Keysets(sh.table),
		member:  keying.KeysetName(sh.key),
	}
}

// rowTarget names the row entry a read of a row rule's statement with args looks up, and the tokens it
// records. Otherwise it returns why the read bypasses the cache: a key value cannot be canonicalized
// (bypassArgs), or analysing the arguments panicked (bypassAnalysis, a defect of this package).
func (e *engine) rowTarget(p *plan, args []driver.NamedValue, h keying.Hash, req *fillReq) (why bypassReason) {
	defer func() {
		if r := recover(); r != nil {
			e.analysisFailed("row", r)
			why = bypassAnalysis
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
			return bypassArgs
		}
		vals[i] = x
	}
	rh, ok := keying.RowHash(sh.table, sh.key, vals)
	if !ok {
		return bypassArgs
	}
	row := e.layout.RowToken(rh)
	req.key = e.entries.RowEntry(row, p.st, h)
	req.tokenKeys = []string{e.layout.Epoch(), p.row.keyed, row}
	req.guard = row
	p.row.noteExtras(args)
	return bypassNone
}

// noteExtras remembers the arguments of a read that are not lookup values, when they changed.
func (rp *rowPlan) noteExtras(args []driver.NamedValue) {
	lk := rp.shape.lookup
	isLookup := func(a driver.NamedValue) bool {
		return slices.ContainsFunc(lk.Values, func(v keying.Value) bool {
			return !v.IsLiteral && (v.Name != "" && v.Name == a.Name || v.Name == "" && a.Name == "" && v.Ordinal == a.Ordinal)
		})
	}
	n := 0
	for _, a := range args {
		if !isLookup(a) {
			n++
		}
	}
	if old := rp.extras.Load(); old != nil && len(*old) == n {
		same, i := true, 0
		for _, a := range args {
			if !isLookup(a) {
				same = same && (*old)[i].Ordinal == a.Ordinal && (*old)[i].Name == a.Name && sameValue((*old)[i].Value, a.Value)
				i++
			}
		}
		if same {
			return
		}
	}
	extras := make([]driver.NamedValue, 0, n)
	for _, a := range args {
		if !isLookup(a) {
			if b, ok := a.Value.([]byte); ok && b != nil {
				a.Value = slices.Clone(b)
			}
			extras = append(extras, a)
		}
	}
	rp.extras.Store(&extras)
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

// errRegister reports that a row rule's key could not be registered in the store.
var errRegister = errors.New("cachedsql: registering a row key failed")

// registerRow makes sure the key column set of p's row rule is in the store's registry before the
// process fills entries keyed by it, so that writers in other processes (whose rules may not know the
// key) replace the right tokens. It is one store call per plan and process.
func (e *engine) registerRow(ctx context.Context, p *plan) bool {
	if p.row.registered.Load() {
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
		e.storeFailed(ctx, "register key", err)
		return false
	}
	p.row.registered.Store(true)
	return true
}

// storeRow stores a row entry as a hash, if the row's token still has the value read before the query.
// It returns whether it stored and how many bytes.
func (e *engine) storeRow(ctx context.Context, req *fillReq, fields []string, ttl time.Duration, index string, indexTTL time.Duration) (bool, int, error) {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	guard := req.tokens[len(req.tokens)-1]
	stored, err := e.st.SetHashIf(ctx, req.key, fields, ttl, req.guard, guard, index, indexTTL)
	return stored, n, err
}
