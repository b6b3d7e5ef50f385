package strategies

import (
	"context"
	"database/sql/driver"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/health"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// These tests drive Invalidation directly, on the in-process store (behind a switch that makes it
// fail), with WriteEvents that record what they hear. The root package's tests drive the same code
// through database/sql, on Redis and PostgreSQL, across processes and outages.

// writeEvents records what an Invalidation reports.
type writeEvents struct {
	mu       sync.Mutex
	causes   []string
	replaced int
	failures int
	gen      uint64
}

func (w *writeEvents) Invalidating(_ context.Context, cause string, _ []string, _ int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.causes = append(w.causes, cause)
}

func (w *writeEvents) LogEntry(cause string, tables []string, rows int) store.LogEntry {
	return store.LogEntry{Time: time.Now(), Cause: cause, Tables: tables, Rows: rows}
}

func (w *writeEvents) Replaced(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.replaced += n
}

func (w *writeEvents) StoreOK() {}

func (w *writeEvents) DeliveryFailed(context.Context, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures++
}

func (w *writeEvents) Generation(n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen = max(w.gen, n)
}

// switchStore is the in-process store, whose token replacements fail while down is set.
type switchStore struct {
	*store.Memory
	down atomic.Bool
}

var errDown = errors.New("store down")

func (s *switchStore) BumpAndRead(ctx context.Context, keys []string, logKey string, e store.LogEntry, r store.BumpRead) (store.BumpResult, error) {
	if s.down.Load() {
		return store.BumpResult{}, errDown
	}
	return s.Memory.BumpAndRead(ctx, keys, logKey, e, r)
}

func (s *switchStore) Bump(ctx context.Context, keys []string) error {
	if s.down.Load() {
		return errDown
	}
	return s.Memory.Bump(ctx, keys)
}

// tokens reads the current values of keys (creating those missing).
func (s *switchStore) tokens(t *testing.T, keys ...string) []uint64 {
	t.Helper()
	vals := make([]uint64, len(keys))
	if err := s.EnsureTokens(context.Background(), keys, vals); err != nil {
		t.Fatal(err)
	}
	return vals
}

var testLayout = keying.NewLayout("inv", "0123456789abcdef")

// newInvalidation returns an Invalidation on a switchable in-process store, whose own row rules key the
// table "users" by id.
func newInvalidation(t *testing.T) (*Invalidation, *switchStore, *writeEvents) {
	st := &switchStore{Memory: store.NewMemory(store.MemoryOptions{})}
	ev := new(writeEvents)
	pending := new(health.Pending)
	pending.Init(1000)
	v := &Invalidation{Store: st, Events: ev, Pending: pending, Timer: clock.System, Log: slog.New(slog.DiscardHandler),
		Generation: testLayout.Generation()}
	v.KeySets.Own = func(table string) [][]string {
		if table == "users" {
			return [][]string{{"id"}}
		}
		return nil
	}
	v.SetLayout(testLayout)
	t.Cleanup(v.Close)
	return v, st, ev
}

// updateUser is the write UPDATE users … WHERE id = $1, pinned to one row.
func updateUser() Write {
	return Write{Statement: keying.Analyze(`UPDATE users SET name = $2 WHERE id = $1`),
		Keys: []string{testLayout.Token("users")}, Tables: []string{"users"}}
}

func rowToken(t *testing.T, id any) string {
	t.Helper()
	h, ok := keying.RowHash("users", []string{"id"}, []any{id})
	if !ok {
		t.Fatalf("RowHash(%v) failed", id)
	}
	return testLayout.RowToken(h)
}

func TestApplyReplacesTheRowsTokensAndReadsThrough(t *testing.T) {
	v, st, ev := newInvalidation(t)
	ctx := context.Background()
	row7, row8 := rowToken(t, int64(7)), rowToken(t, int64(8))
	keyed := testLayout.KeyedToken("users", []string{"id"})
	before := st.tokens(t, testLayout.Token("users"), row7, row8, keyed)

	eff, pin := v.EffectOf(updateUser(), []driver.NamedValue{{Ordinal: 1, Value: int64(7)}, {Ordinal: 2, Value: "ann"}})
	if pin.Pins == nil || pin.Table != "users" || len(pin.Vals) != 1 {
		t.Fatalf("EffectOf pinned %+v; want the row of id 7", pin)
	}
	read := &Request{TokenKeys: []string{row7}, Tokens: make([]uint64, 1)}
	if !v.Apply(ctx, eff, "UPDATE users", []*Request{read}) {
		t.Fatal("Apply reported a failure on a working store")
	}
	after := st.tokens(t, testLayout.Token("users"), row7, row8, keyed)
	if after[0] == before[0] || after[1] == before[1] {
		t.Errorf("table or row token not replaced: %v -> %v", before, after)
	}
	if after[2] != before[2] || after[3] != before[3] {
		t.Errorf("a write pinned to row 7 replaced row 8's token or the keyed token: %v -> %v", before, after)
	}
	if read.Tokens[0] != after[1] {
		t.Errorf("write-through read token %d; want the replaced value %d", read.Tokens[0], after[1])
	}
	if ev.replaced != 2 || ev.gen != 1 || !slices.Equal(ev.causes, []string{"UPDATE users"}) {
		t.Errorf("events: replaced %d, generation %d, causes %q; want 2, 1, [UPDATE users]", ev.replaced, ev.gen, ev.causes)
	}
}

// A process whose rules key a table by other columns than this one's registers them; a write here
// replaces their keyed token, and learns the set for its next writes.
func TestApplyLearnsRegisteredKeySets(t *testing.T) {
	v, st, _ := newInvalidation(t)
	ctx := context.Background()
	if err := st.AddMembers(ctx, testLayout.Keysets("users"), keying.KeysetName([]string{"email"}), "not a key set"); err != nil {
		t.Fatal(err)
	}
	byEmail := testLayout.KeyedToken("users", []string{"email"})
	before := st.tokens(t, byEmail)
	eff, _ := v.EffectOf(updateUser(), []driver.NamedValue{{Ordinal: 1, Value: int64(7)}, {Ordinal: 2, Value: "ann"}})
	if slices.Contains(eff.Keys, byEmail) {
		t.Fatal("the effect knows the email key set before the registry was read")
	}
	if !v.Apply(ctx, eff, "UPDATE users", nil) {
		t.Fatal("Apply failed")
	}
	if after := st.tokens(t, byEmail); after[0] == before[0] {
		t.Error("the keyed token of a registered key set was not replaced")
	}
	if !slices.ContainsFunc(v.KeySets.Of("users"), func(ks []string) bool { return slices.Equal(ks, []string{"email"}) }) {
		t.Errorf("key sets of users after Apply: %q; want email learnt", v.KeySets.Of("users"))
	}
	eff, _ = v.EffectOf(updateUser(), []driver.NamedValue{{Ordinal: 1, Value: int64(7)}, {Ordinal: 2, Value: "bob"}})
	if !slices.Contains(eff.Keys, byEmail) {
		t.Error("the next write's effect does not replace the learnt set's keyed token in its first round trip")
	}
}

// A replacement the store refuses is queued: reads of its tokens, and of the row entries of key sets
// this process does not know (the marker), bypass the cache until the deliverer has replaced them all.
func TestApplyQueuesWhatTheStoreRefusesUntilDelivered(t *testing.T) {
	v, st, ev := newInvalidation(t)
	ctx := context.Background()
	if err := st.AddMembers(ctx, testLayout.Keysets("users"), keying.KeysetName([]string{"email"})); err != nil {
		t.Fatal(err)
	}
	table, byEmail := testLayout.Token("users"), testLayout.KeyedToken("users", []string{"email"})
	before := st.tokens(t, table, byEmail)
	st.down.Store(true)
	eff, _ := v.EffectOf(updateUser(), []driver.NamedValue{{Ordinal: 1, Value: int64(7)}, {Ordinal: 2, Value: "ann"}})
	if v.Apply(ctx, eff, "UPDATE users", nil) {
		t.Fatal("Apply reported success on a failing store")
	}
	if !v.Pending.Holds([]string{table}) || !v.Pending.Down() {
		t.Fatal("a refused replacement is not pending, or the store not marked down")
	}
	ev.mu.Lock()
	failures := ev.failures
	ev.mu.Unlock()
	if failures == 0 {
		t.Error("the refused replacement was not reported (DeliveryFailed)")
	}
	// A second write while the store is known down is queued too.
	v.Apply(ctx, v.TablesEffect([]string{"orders"}), "DELETE orders", nil)
	if !v.Pending.Holds([]string{testLayout.Token("orders")}) {
		t.Error("a write while the store is down was not queued")
	}
	st.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for v.Pending.Any() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if v.Pending.Any() {
		t.Fatal("the deliverer did not deliver within 10 s of the store coming back")
	}
	after := st.tokens(t, table, byEmail)
	if after[0] == before[0] || after[1] == before[1] {
		t.Errorf("delivery did not replace the table token and the registered set's keyed token: %v -> %v", before, after)
	}
	if log, err := st.RecentLog(ctx, testLayout.Log(), 10); err != nil || len(log) == 0 || log[0].Cause != CauseDelivered {
		t.Errorf("invalidation log %+v, %v; want the delivery logged as %q", log, err, CauseDelivered)
	}
}

// Close makes a last attempt to deliver what is pending.
func TestCloseDeliversOnce(t *testing.T) {
	v, st, _ := newInvalidation(t)
	ctx := context.Background()
	table := testLayout.Token("users")
	before := st.tokens(t, table)
	st.down.Store(true)
	v.Apply(ctx, v.TablesEffect([]string{"users"}), "DELETE users", nil)
	st.down.Store(false)
	v.Close()
	if v.Pending.Any() {
		t.Error("invalidations still pending after Close with the store back")
	}
	if after := st.tokens(t, table); after[0] == before[0] {
		t.Error("Close's last attempt did not replace the token")
	}
}

// Past maxTxKeys tokens a transaction's effect is whole tables: the table tokens and the keyed tokens.
func TestMergeDropsRowPrecisionPastTheBound(t *testing.T) {
	v, _, _ := newInvalidation(t)
	args := func(i int) []driver.NamedValue {
		return []driver.NamedValue{{Ordinal: 1, Value: int64(i)}, {Ordinal: 2, Value: "x"}}
	}
	eff, _ := v.EffectOf(updateUser(), args(0))
	writes := 1
	for ; ; writes++ {
		o, _ := v.EffectOf(updateUser(), args(writes))
		if v.Merge(eff, o) {
			break
		}
		if writes > maxTxKeys {
			t.Fatalf("%d writes merged, %d keys, and still row-level", writes, len(eff.Keys))
		}
	}
	if keys := 2 * (writes + 1); keys <= maxTxKeys {
		t.Errorf("row precision dropped at %d keys; the bound is %d", keys, maxTxKeys)
	}
	want := []string{testLayout.Token("users"), testLayout.KeyedToken("users", []string{"id"})}
	if !slices.Equal(dedupe(eff.Keys), want) || eff.All || !slices.Equal(eff.Tables, []string{"users"}) {
		t.Errorf("coarse effect: keys %q, all %v, tables %q; want %q on users", dedupe(eff.Keys), eff.All, eff.Tables, want)
	}
}

// A write of unknown tables, or DDL, replaces the epoch; DDL also asks for the catalog to be read again.
func TestEffectOfUnknownTablesAndDDL(t *testing.T) {
	v, _, _ := newInvalidation(t)
	epoch := []string{testLayout.Epoch()}
	for _, tc := range []struct {
		query  string
		schema bool
	}{
		{`ALTER TABLE users ADD COLUMN age int`, true},
		{`DO $$ BEGIN PERFORM 1; END $$`, true},
		{`EXPLAIN ANALYZE UPDATE users SET n = 1`, false},
	} {
		eff, pin := v.EffectOf(Write{Statement: keying.Analyze(tc.query), Keys: epoch}, nil)
		if !eff.All || eff.Schema != tc.schema || !slices.Equal(eff.Keys, epoch) || pin.Pins != nil {
			t.Errorf("%s: effect %+v, pinned %v; want the epoch, schema %v", tc.query, eff, pin.Pins != nil, tc.schema)
		}
	}
}
