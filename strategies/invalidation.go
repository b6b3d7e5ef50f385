package strategies

import (
	"context"
	"database/sql/driver"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cachedsql/cachedsql/internal/health"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// WriteStore is what invalidation needs of a store (internal/store's Redis and Memory; the store.Store
// contract says what each method promises).
type WriteStore interface {
	// BumpAndRead replaces tokens, logs the invalidation, increments the write generation and reads
	// key-set registries and tokens, in one round trip; Bump only replaces tokens.
	BumpAndRead(ctx context.Context, tokenKeys []string, logKey string, entry store.LogEntry, read store.BumpRead) (store.BumpResult, error)
	Bump(ctx context.Context, tokenKeys []string) error
}

// WriteEvents hears what invalidation does, for counters, observers and the watch of the processes
// sharing the database, and describes invalidations for the store's log. Its methods must be quick.
type WriteEvents interface {
	// Invalidating: cause (a write's statement text, "COMMIT", or what else caused it) replaces the
	// tokens of tables (nil: the whole database), rows of them one row's each. It is called once per
	// Apply, before the round trip.
	Invalidating(ctx context.Context, cause string, tables []string, rows int)
	// LogEntry describes that invalidation for the store's log of recent invalidations.
	LogEntry(cause string, tables []string, rows int) store.LogEntry
	// Replaced counts tokens replaced in the store.
	Replaced(n int)
	// StoreOK records a replacement that reached the store; DeliveryFailed one that did not (op names
	// the call).
	StoreOK()
	DeliveryFailed(ctx context.Context, op string, err error)
	// Generation reports the database's write generation a replacement read back (with Generation set).
	Generation(n uint64)
}

// Timer starts timers: the deliverer's retries wait on it (tests move it).
type Timer interface {
	NewTimer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

// maxTxKeys bounds the tokens a transaction collects before its writes are treated as table-level ones.
const maxTxKeys = 10000

// Invalidation replaces the generation tokens a write changes, before the write returns, and delivers
// later those the store could not take (DESIGN.md, "Write path"). Which tokens a write replaces
// depends on the statement and its arguments, and on the key column sets that row rules use for the
// table written; those come from the cache's rules (KeySets.Own) and from the registry in the store,
// which the replacement reads in the same round trip, so that processes with other rules (during a
// deployment, say) are told of writes to the rows they cache.
//
// Set its fields, then SetLayout once the database is known, before the first write; it is then safe
// for concurrent use. Close stops its deliverer.
type Invalidation struct {
	Store   WriteStore
	Events  WriteEvents
	Pending *health.Pending
	// KeySets knows the key column sets of each table's row entries.
	KeySets KeySets
	// Timer paces the deliverer's retries. Timeout bounds one replacement (0: none, for an in-process
	// store).
	Timer   Timer
	Timeout time.Duration
	Log     *slog.Logger
	// Generation is the key of the database's write generation, which every replacement increments
	// (the watch of lost writes reads it); "" for none.
	Generation string

	layout    keying.Layout
	rowPrefix string // starts the key of every row token of the database
	dl        deliverer
}

// SetLayout names the database's tokens, log and registries with l.
func (v *Invalidation) SetLayout(l keying.Layout) {
	v.layout = l
	v.rowPrefix = strings.TrimSuffix(l.RowToken(keying.Hash{}), "{"+keying.Hash{}.String()+"}")
}

// Bound bounds the replacement of tokens after a write: it ignores the caller's cancellation, since the
// write has happened, and times out after Timeout.
func (v *Invalidation) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = context.WithoutCancel(ctx)
	if v.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, v.Timeout)
}

// Effect is what one write, or the writes of one transaction, do to the cache.
type Effect struct {
	// Keys are the generation tokens to replace (with duplicates).
	Keys []string
	// All: the epoch is among Keys (DDL, or tables unknown), and Tables is nil.
	All bool
	// Schema: the write may have changed the schema (DDL, DO, CALL): the catalog must be read again.
	Schema bool
	Tables []string
	// regs are the written tables whose key registries the replacement reads.
	regs []regCheck
}

// regCheck is a written table whose row entries may be keyed by column sets this process does not
// know: the registry tells which, and the write's pins say which tokens of theirs to replace.
type regCheck struct {
	table string
	pins  *keying.Pins // nil: not pinned to rows
	vals  [][]any      // the pinned values, per row, in pins.Columns order
	known []string     // key sets whose tokens are already in the effect
}

// Write is a statement that writes, as its analysis found it.
type Write struct {
	Statement *keying.Statement
	// Keys are the tokens it replaces whatever its arguments: one per table written, or the epoch.
	Keys []string
	// Tables are the tables it writes; nil when they are unknown (Keys then holds the epoch).
	Tables []string
	// Also are the tables it changes without naming them (foreign-key actions, triggers).
	Also []string
}

// Pinned names the rows a write to one table is pinned to: Pins (nil: none) and their values, per row
// in Pins.Columns order. Write-through re-reads them.
type Pinned struct {
	Table string
	Pins  *keying.Pins
	Vals  [][]any
}

// EffectOf returns what w, run with args, does to the cache, and the rows it is pinned to.
func (v *Invalidation) EffectOf(w Write, args []driver.NamedValue) (*Effect, Pinned) {
	if w.Tables == nil {
		st := w.Statement
		schema := st.Kind == keying.KindDDL || st.Kind == keying.KindOther && !strings.HasPrefix(st.Normalized, "explain")
		return &Effect{Keys: slices.Clone(w.Keys), All: true, Schema: schema}, Pinned{}
	}
	eff := &Effect{Tables: slices.Clone(w.Tables), Keys: slices.Clone(w.Keys)}
	var pin Pinned
	if pp := w.Statement.Pins(); pp != nil && len(w.Tables) == 1 {
		if vals, ok := ResolvePins(pp, args); ok {
			pin = Pinned{Table: w.Tables[0], Pins: pp, Vals: vals}
		}
	}
	for _, t := range w.Tables {
		if pin.Pins != nil && pin.Pins.Creates {
			continue // only new rows: no row entry holds them (a row rule never caches a missing row)
		}
		v.pinTable(eff, t, pin.Pins, pin.Vals)
	}
	for _, t := range w.Also { // changed through foreign-key actions or triggers: every row
		if !slices.Contains(eff.Tables, t) {
			eff.Tables = append(eff.Tables, t)
		}
		v.pinTable(eff, t, nil, nil)
	}
	return eff, pin
}

// Everything returns the effect of a write that changes the whole database: the epoch.
func (v *Invalidation) Everything() *Effect {
	return &Effect{Keys: []string{v.layout.Epoch()}, All: true}
}

// TablesEffect returns the effect of a write to every row of tables (nil: Everything).
func (v *Invalidation) TablesEffect(tables []string) *Effect {
	if len(tables) == 0 {
		return v.Everything()
	}
	eff := &Effect{Tables: tables}
	for _, t := range tables {
		eff.Keys = append(eff.Keys, v.layout.Token(t))
		v.pinTable(eff, t, nil, nil)
	}
	return eff
}

// pinTable adds the row-entry tokens of table t that a write pinned by pins (nil: not pinned) replaces,
// for every key set this process knows, and asks for the table's registry.
func (v *Invalidation) pinTable(eff *Effect, t string, pins *keying.Pins, vals [][]any) {
	rc := regCheck{table: t, pins: pins, vals: vals}
	for _, ks := range v.KeySets.Of(t) {
		eff.Keys = append(eff.Keys, RowTokens(v.layout, t, ks, pins, vals)...)
		rc.known = append(rc.known, keying.KeysetName(ks))
	}
	eff.regs = append(eff.regs, rc)
}

// Merge adds o, a later write of the same transaction, to eff. Past maxTxKeys tokens the row-level
// precision is dropped: every written table is invalidated whole, and Merge reports true (nothing is
// then written through).
func (v *Invalidation) Merge(eff, o *Effect) (coarse bool) {
	eff.Keys = append(eff.Keys, o.Keys...)
	eff.All = eff.All || o.All
	eff.Schema = eff.Schema || o.Schema
	if !eff.All {
		for _, t := range o.Tables {
			if !slices.Contains(eff.Tables, t) {
				eff.Tables = append(eff.Tables, t)
			}
		}
	} else {
		eff.Tables = nil
	}
	eff.regs = append(eff.regs, o.regs...)
	if len(eff.Keys) <= maxTxKeys {
		return false
	}
	schema := eff.Schema
	if eff.All {
		*eff = *v.Everything()
	} else {
		*eff = *v.TablesEffect(eff.Tables)
	}
	eff.Schema = schema
	return true
}

// Apply replaces the tokens of a complete write, before the write returns to its caller: the one
// function from a write's effect to delivered tokens. cause describes the write for the log and the
// observer. reads are the fills write-through will make (nil: none): their Tokens are read in the same
// round trip, after the replacement and before their query. Apply tries whatever the read path's
// breaker says, bounded by Timeout. If the store cannot take the tokens they are queued for the
// deliverer: reads of them bypass the cache (Pending) until they are delivered. Apply reports whether
// every token was replaced, so that write-through may follow.
func (v *Invalidation) Apply(ctx context.Context, eff *Effect, cause string, reads []*Request) bool {
	if eff == nil || len(eff.Keys) == 0 {
		return false
	}
	keys := dedupe(eff.Keys)
	rows := v.rowCount(keys)
	v.Events.Invalidating(ctx, cause, eff.Tables, rows)
	if v.Pending.Down() {
		// The store could not be reached at the last attempt: the deliverer's retries stand for this
		// write's own round trip, which would only wait for the same failure.
		v.queue(v.pendingKeys(keys, eff))
		return false
	}
	// One registry read per table, whatever the number of writes to it in a transaction.
	var sets []string
	setOf := make(map[string]int, len(eff.regs))
	for _, rc := range eff.regs {
		if _, ok := setOf[rc.table]; !ok {
			setOf[rc.table] = len(sets)
			sets = append(sets, v.layout.Keysets(rc.table))
		}
	}
	var tokens []string
	for _, r := range reads {
		tokens = append(tokens, r.TokenKeys...)
	}
	sctx, cancel := v.Bound(ctx)
	res, err := v.Store.BumpAndRead(sctx, keys, v.layout.Log(), v.Events.LogEntry(cause, eff.Tables, rows),
		store.BumpRead{Sets: sets, Tokens: tokens, Counter: v.Generation})
	cancel()
	if err != nil {
		v.failed(ctx, "bump", err)
		v.queue(v.pendingKeys(keys, eff))
		return false
	}
	v.Events.StoreOK()
	v.Events.Generation(res.Counter)
	v.Events.Replaced(len(keys))
	if len(res.Tokens) == len(tokens) {
		off := 0
		for _, r := range reads {
			off += copy(r.Tokens, res.Tokens[off:])
		}
	}
	if more := v.registered(eff, res.Members, setOf); len(more) > 0 {
		sctx, cancel := v.Bound(ctx)
		err := v.Store.Bump(sctx, more)
		cancel()
		if err != nil {
			v.failed(ctx, "bump", err)
			v.queue(more)
			return false
		}
		v.Events.Replaced(len(more))
	}
	return true
}

// rowCount counts the row tokens among token keys.
func (v *Invalidation) rowCount(keys []string) int {
	rows := 0
	for _, k := range keys {
		if strings.HasPrefix(k, v.rowPrefix) {
			rows++
		}
	}
	return rows
}

// pendingKeys are the tokens kept pending after a failed replacement. A write whose tables' registries
// could not be read may have row entries keyed by sets this process does not know: a marker per table
// stands for them, which delivery expands by reading the registry (bumpPending).
func (v *Invalidation) pendingKeys(keys []string, eff *Effect) []string {
	if eff.All {
		return keys
	}
	for _, rc := range eff.regs {
		keys = append(keys, pendingRowsMarker+rc.table)
	}
	return keys
}

// pendingRowsMarker starts a pending "key" that stands for the keyed tokens of every key set registered
// for a table. No store key starts with it.
const pendingRowsMarker = "\x00rows of "

// registered returns the tokens to replace for the key sets the registries list (members[setOf[table]])
// and the effect did not know, and learns those sets.
func (v *Invalidation) registered(eff *Effect, members [][]string, setOf map[string]int) []string {
	var more []string
	for _, rc := range eff.regs {
		i, ok := setOf[rc.table]
		if !ok || i >= len(members) {
			continue
		}
		for _, m := range members[i] {
			if slices.Contains(rc.known, m) {
				continue
			}
			cols, ok := keying.ParseKeysetName(m)
			if !ok {
				v.Log.Warn("cachedsql: ignoring a malformed key set in the store's registry", "table", rc.table, "member", m)
				continue
			}
			v.KeySets.Learn(rc.table, cols)
			more = append(more, RowTokens(v.layout, rc.table, cols, rc.pins, rc.vals)...)
		}
	}
	return dedupe(more)
}

func dedupe(keys []string) []string {
	if len(keys) < 2 {
		return keys
	}
	seen := make(map[string]struct{}, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

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

// KeySets knows the key column sets of each table's row entries: those of the cache's own row rules,
// and those learnt from the store's registries. Tables are named as keying names them (lower-cased,
// unquoted). It is safe for concurrent use.
type KeySets struct {
	// Own returns the key sets of the cache's own row rules on a table (nil: none).
	Own func(table string) [][]string

	mu sync.Mutex
	// learnt maps a table to the sets learnt for it, replaced (never changed) on update.
	learnt map[string][][]string
}

// Of returns the key column sets of table t's row entries known to this process.
func (k *KeySets) Of(t string) [][]string {
	var own [][]string
	if k.Own != nil {
		own = k.Own(t)
	}
	k.mu.Lock()
	learnt := k.learnt[t]
	k.mu.Unlock()
	if len(learnt) == 0 {
		return own
	}
	return append(slices.Clip(own), learnt...)
}

// Learn remembers a key set found in a registry, so that later writes replace its tokens in their first
// round trip.
func (k *KeySets) Learn(t string, cols []string) {
	var own [][]string
	if k.Own != nil {
		own = k.Own(t)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	has := func(ks []string) bool { return slices.Equal(ks, cols) }
	if slices.ContainsFunc(own, has) || slices.ContainsFunc(k.learnt[t], has) {
		return
	}
	if k.learnt == nil {
		k.learnt = make(map[string][][]string)
	}
	k.learnt[t] = append(slices.Clip(k.learnt[t]), cols)
}
