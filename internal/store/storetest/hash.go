package storetest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

// rowKeys returns the key of a row hash and of its guard token. Both carry
// the hash tag {tag}, so they share a Redis Cluster slot as SetHashIf needs.
func rowKeys(prefix, tag string) (key, guard string) {
	key = prefix + "r:{" + tag + "}"
	return key, key + ":e"
}

// pairs returns the map that the name, value pairs of fields make.
func pairs(fields ...string) map[string]string {
	m := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	return m
}

func fetchHash(t *testing.T, s store.Store, key string, tokenKeys ...string) (map[string]string, []uint64) {
	t.Helper()
	tokens := make([]uint64, len(tokenKeys))
	for i := range tokens {
		tokens[i] = 0xbad // must be overwritten, also when missing
	}
	fields, err := s.FetchHash(context.Background(), key, tokenKeys, tokens)
	if err != nil {
		t.Fatalf("FetchHash(%q, %q): %v", key, tokenKeys, err)
	}
	return fields, tokens
}

// token returns the current token at key as FetchHash reads it (0 when missing).
func token(t *testing.T, s store.Store, key string) uint64 {
	t.Helper()
	_, tokens := fetchHash(t, s, key+":no-such-hash", key)
	return tokens[0]
}

func setHashIf(t *testing.T, s store.Store, key string, fields []string, ttl time.Duration, guardKey string, guard uint64) bool {
	t.Helper()
	stored, err := s.SetHashIf(context.Background(), key, fields, ttl, guardKey, guard, "", 0)
	if err != nil {
		t.Fatalf("SetHashIf(%q, guard %#x): %v", key, guard, err)
	}
	return stored
}

func addMembers(t *testing.T, s store.Store, key string, members ...string) {
	t.Helper()
	if err := s.AddMembers(context.Background(), key, members...); err != nil {
		t.Fatalf("AddMembers(%q, %q): %v", key, members, err)
	}
}

// testSetHashIfGuard: SetHashIf stores exactly when the guard key holds the
// token the caller passes; a stale, missing or foreign token stores nothing
// and leaves any earlier hash alone.
func testSetHashIfGuard(t *testing.T, s store.Store, prefix string) {
	fields := []string{"id", "1", "name", "ada"}
	t.Run("current token", func(t *testing.T) {
		key, guard := rowKeys(prefix, "current")
		g := ensure(t, s, guard)[0]
		if !setHashIf(t, s, key, fields, time.Hour, guard, g) {
			t.Fatal("SetHashIf with the current token did not store")
		}
		if got, _ := fetchHash(t, s, key); !maps.Equal(got, pairs(fields...)) {
			t.Errorf("FetchHash = %q, want %q", got, pairs(fields...))
		}
	})
	t.Run("bumped token", func(t *testing.T) {
		key, guard := rowKeys(prefix, "bumped")
		g := ensure(t, s, guard)[0]
		if !setHashIf(t, s, key, []string{"v", "old"}, time.Hour, guard, g) {
			t.Fatal("SetHashIf with the current token did not store")
		}
		bump(t, s, guard)
		if setHashIf(t, s, key, fields, time.Hour, guard, g) {
			t.Error("SetHashIf with the token from before a Bump stored, want not")
		}
		if got, _ := fetchHash(t, s, key); !maps.Equal(got, pairs("v", "old")) {
			t.Errorf("FetchHash after a refused SetHashIf = %q, want the earlier hash", got)
		}
	})
	t.Run("missing token", func(t *testing.T) {
		key, guard := rowKeys(prefix, "missing")
		for _, g := range []uint64{0, 1, 0xfedc_ba98_7654_3210} {
			if setHashIf(t, s, key, fields, time.Hour, guard, g) {
				t.Errorf("SetHashIf with guard %#x and no token stored, want not", g)
			}
		}
		if got, _ := fetchHash(t, s, key); got != nil {
			t.Errorf("FetchHash = %q, want nil", got)
		}
	})
	for _, foreign := range []string{"not a token", "", "0000000000000000", "00000000000000AB", "ab"} {
		t.Run("foreign value "+foreign, func(t *testing.T) {
			key, guard := rowKeys(prefix, "foreign:"+foreign)
			set(t, s, guard, []byte(foreign), time.Hour)
			for _, g := range []uint64{token(t, s, guard), 0, 0xab} {
				if setHashIf(t, s, key, fields, time.Hour, guard, g) {
					t.Errorf("SetHashIf with guard %#x over the foreign value %q stored, want not", g, foreign)
				}
			}
			if got, _ := fetchHash(t, s, key); got != nil {
				t.Errorf("FetchHash = %q, want nil", got)
			}
		})
	}
}

// testSetHashIfReplaces: a stored hash holds exactly the new fields, never a
// merge with the old ones, and replaces a plain value too.
func testSetHashIfReplaces(t *testing.T, s store.Store, prefix string) {
	key, guard := rowKeys(prefix, "replace")
	g := ensure(t, s, guard)[0]
	steps := []struct {
		fields []string
		want   map[string]string
	}{
		{[]string{"a", "1", "b", "2", "c", "3"}, pairs("a", "1", "b", "2", "c", "3")},
		{[]string{"a", "9", "d", "4"}, pairs("a", "9", "d", "4")},
		{[]string{"x", "1", "x", "2"}, pairs("x", "2")},                                      // HSET semantics: last wins
		{[]string{"", "", "bin\x00\xff", "\x00", "long", strings.Repeat("v", 100_000)}, nil}, // odd names and values
	}
	for i, st := range steps {
		if !setHashIf(t, s, key, st.fields, time.Hour, guard, g) {
			t.Fatalf("step %d: SetHashIf did not store", i)
		}
		want := st.want
		if want == nil {
			want = pairs(st.fields...)
		}
		if got, _ := fetchHash(t, s, key); !maps.Equal(got, want) {
			t.Errorf("step %d: FetchHash has %d fields, want exactly %d: %.60q", i, len(got), len(want), got)
		}
	}
	vkey, vguard := rowKeys(prefix, "over-value")
	set(t, s, vkey, []byte("a plain value"), time.Hour)
	if !setHashIf(t, s, vkey, []string{"f", "v"}, time.Hour, vguard, ensure(t, s, vguard)[0]) {
		t.Fatal("SetHashIf over a plain value did not store")
	}
	if got, _ := fetchHash(t, s, vkey); !maps.Equal(got, pairs("f", "v")) {
		t.Errorf("FetchHash after SetHashIf over a value = %q, want %q", got, pairs("f", "v"))
	}
}

// testSetHashIfTTL: a hash expires by its TTL; SetHashIf sets it each time.
func testSetHashIfTTL(t *testing.T, s store.Store, prefix string) {
	long, lguard := rowKeys(prefix, "long")
	short, sguard := rowKeys(prefix, "short")
	setHashIf(t, s, long, []string{"f", "v"}, time.Hour, lguard, ensure(t, s, lguard)[0])
	g := ensure(t, s, sguard)[0]
	setHashIf(t, s, short, []string{"f", "v"}, time.Hour, sguard, g)
	setHashIf(t, s, short, []string{"f", "v"}, 20*time.Millisecond, sguard, g)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if got, _ := fetchHash(t, s, short); got == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hash with a 20ms TTL still present after 10s")
		}
		<-tick.C
	}
	if got, _ := fetchHash(t, s, long); got == nil {
		t.Errorf("hash with a 1h TTL is gone, want it present")
	}
	if token(t, s, sguard) != g {
		t.Errorf("guard token changed when its hash expired, want it kept")
	}
}

// testSetHashIfBadArgs: bad TTLs and fields are rejected and write nothing.
func testSetHashIfBadArgs(t *testing.T, s store.Store, prefix string) {
	key, guard := rowKeys(prefix, "bad")
	index := prefix + "idx:bad"
	g := ensure(t, s, guard)[0]
	ok := []string{"f", "v"}
	tests := []struct {
		name     string
		fields   []string
		ttl      time.Duration
		index    string
		indexTTL time.Duration
	}{
		{"zero ttl", ok, 0, "", 0},
		{"negative ttl", ok, -time.Second, index, time.Hour},
		{"zero index ttl", ok, time.Hour, index, 0},
		{"negative index ttl", ok, time.Hour, index, -1},
		{"no fields", nil, time.Hour, index, time.Hour},
		{"odd fields", []string{"f", "v", "g"}, time.Hour, index, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := s.SetHashIf(context.Background(), key, tt.fields, tt.ttl, guard, g, tt.index, tt.indexTTL)
			if err == nil || stored {
				t.Errorf("SetHashIf = %v, %v; want false and an error", stored, err)
			}
		})
	}
	if got, _ := fetchHash(t, s, key); got != nil {
		t.Errorf("FetchHash after rejected calls = %q, want nil", got)
	}
	if got := indexMembers(t, s, index); len(got) != 0 {
		t.Errorf("index after rejected calls = %q, want none", got)
	}
	// Without an index, its TTL does not matter.
	if !setHashIf(t, s, key, ok, time.Hour, guard, g) {
		t.Error("SetHashIf without an index and a zero index TTL did not store")
	}
}

// testSetHashIfIndex: with an index, SetHashIf adds the key to it whether or
// not it stored, and sets the index's TTL.
func testSetHashIfIndex(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	index, short := prefix+"idx:rows", prefix+"idx:short"
	k1, g1 := rowKeys(prefix, "1")
	k2, g2 := rowKeys(prefix, "2")
	stored, err := s.SetHashIf(ctx, k1, []string{"f", "1"}, time.Hour, g1, ensure(t, s, g1)[0], index, time.Hour)
	if err != nil || !stored {
		t.Fatalf("SetHashIf with the current token = %v, %v; want true, nil", stored, err)
	}
	stale := ensure(t, s, g2)[0]
	bump(t, s, g2)
	stored, err = s.SetHashIf(ctx, k2, []string{"f", "2"}, time.Hour, g2, stale, index, time.Hour)
	if err != nil || stored {
		t.Fatalf("SetHashIf with a stale token = %v, %v; want false, nil", stored, err)
	}
	if got, want := indexMembers(t, s, index), []string{k1, k2}; !slices.Equal(got, want) {
		t.Errorf("IndexMembers = %q, want %q (stored or not)", got, want)
	}
	if _, err := s.SetHashIf(ctx, k1, []string{"f", "1"}, time.Hour, g1, token(t, s, g1), short, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(indexMembers(t, s, short)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("index with a 20ms TTL still present after 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, _ := fetchHash(t, s, k1); got == nil {
		t.Errorf("hash with a 1h TTL is gone with its index, want it present")
	}
}

// testSetHashIfInterleavings runs write-throughs of one row step by step in
// every order that matters: a writer reads the row's token, then stores its
// image guarded by that token; a Bump between the two makes the store fail,
// so the newest image wins whatever the order of the stores.
func testSetHashIfInterleavings(t *testing.T, s store.Store, prefix string) {
	tests := []struct {
		name   string
		steps  []string // "ensure", "bump", "read X", "set X"
		stored map[string]bool
		final  string // the writer whose image the hash ends with; "" for none
	}{
		{"read, set", []string{"ensure", "read A", "set A"}, map[string]bool{"A": true}, "A"},
		{"read, bump, set", []string{"ensure", "read A", "bump", "set A"}, map[string]bool{"A": false}, ""},
		{"read before the token exists", []string{"read A", "ensure", "set A"}, map[string]bool{"A": false}, ""},
		{"newer stores first", []string{"ensure", "read A", "bump", "read B", "set B", "set A"},
			map[string]bool{"A": false, "B": true}, "B"},
		{"older stores first", []string{"ensure", "read A", "bump", "read B", "set A", "set B"},
			map[string]bool{"A": false, "B": true}, "B"},
		{"one token, both store", []string{"ensure", "read A", "read B", "set A", "set B"},
			map[string]bool{"A": true, "B": true}, "B"},
		{"stored before the bump", []string{"ensure", "read A", "set A", "bump", "read B", "set B"},
			map[string]bool{"A": true, "B": true}, "B"},
		{"stored, then bumped", []string{"ensure", "read A", "set A", "bump"}, map[string]bool{"A": true}, "A"},
	}
	image := func(w string) []string { return []string{"writer", w, "only-" + w, w} }
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, guard := rowKeys(prefix, "il"+string(rune('a'+i)))
			read := make(map[string]uint64)
			stored := make(map[string]bool)
			for _, step := range tt.steps {
				switch op, w, _ := strings.Cut(step, " "); op {
				case "ensure":
					ensure(t, s, guard)
				case "bump":
					bump(t, s, guard)
				case "read":
					read[w] = token(t, s, guard)
				case "set":
					stored[w] = setHashIf(t, s, key, image(w), time.Hour, guard, read[w])
				}
			}
			if !maps.Equal(stored, tt.stored) {
				t.Errorf("stored = %v, want %v", stored, tt.stored)
			}
			var want map[string]string
			if tt.final != "" {
				want = pairs(image(tt.final)...)
			}
			if got, _ := fetchHash(t, s, key); !maps.Equal(got, want) {
				t.Errorf("final hash = %q, want %q", got, want)
			}
		})
	}
}

// testSetHashIfRacesBump races older writers' SetHashIf against a Bump
// followed by a newer writer's read and SetHashIf. With an atomic check and
// replace the newer image always wins; a store that checked the guard, then
// let the Bump and the newer write in, then wrote, would end with an older.
func testSetHashIfRacesBump(t *testing.T, s store.Store, prefix string) {
	const rounds, olderWriters = 100, 4
	ctx := context.Background()
	key, guard := rowKeys(prefix, "race")
	older := []string{"w", "older", "a", "1", "b", "2"}
	newer := []string{"w", "newer", "c", "3"}
	for r := range rounds {
		g := ensure(t, s, guard)[0]
		errs := make([]error, olderWriters+1)
		newerStored := false
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range olderWriters {
			wg.Go(func() {
				<-start
				_, errs[w] = s.SetHashIf(ctx, key, older, time.Hour, guard, g, "", 0)
			})
		}
		wg.Go(func() {
			<-start
			newerStored, errs[olderWriters] = newerWrite(ctx, s, key, guard, newer)
		})
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		if !newerStored {
			t.Fatalf("round %d: the newer writer's SetHashIf did not store", r)
		}
		if got, _ := fetchHash(t, s, key); !maps.Equal(got, pairs(newer...)) {
			t.Fatalf("round %d: hash = %q, want the newer image %q", r, got, pairs(newer...))
		}
	}
}

// newerWrite is a write-through that invalidates first: Bump the row's
// token, read it, then store the image guarded by it.
func newerWrite(ctx context.Context, s store.Store, key, guard string, image []string) (bool, error) {
	if err := s.Bump(ctx, []string{guard}); err != nil {
		return false, err
	}
	tokens := make([]uint64, 1)
	if _, err := s.FetchHash(ctx, key, []string{guard}, tokens); err != nil {
		return false, err
	}
	return s.SetHashIf(ctx, key, image, time.Hour, guard, tokens[0], "", 0)
}

// testFetchHash: FetchHash reads tokens as Fetch does, returns nil for a
// missing hash and a copy otherwise, and refuses a plain value.
func testFetchHash(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	key, guard := rowKeys(prefix, "fetch")
	foreign := prefix + "t:foreign"
	set(t, s, foreign, []byte("foreign"), time.Hour)
	tks := []string{prefix + "t:missing", guard, foreign}
	g := ensure(t, s, guard)[0]
	fields, tokens := fetchHash(t, s, key, tks...)
	if fields != nil {
		t.Errorf("FetchHash of a missing hash = %q, want nil", fields)
	}
	_, want := fetch(t, s, key, tks...)
	if !slices.Equal(tokens, want) || tokens[1] != g {
		t.Errorf("FetchHash tokens = %#x, want %#x as Fetch reads them", tokens, want)
	}
	setHashIf(t, s, key, []string{"f", "v"}, time.Hour, guard, g)
	got, _ := fetchHash(t, s, key)
	got["f"] = "changed"
	got["new"] = "x"
	if again, _ := fetchHash(t, s, key); !maps.Equal(again, pairs("f", "v")) {
		t.Errorf("FetchHash after the caller changed a fetched map = %q, want %q", again, pairs("f", "v"))
	}
	if _, err := s.FetchHash(ctx, key, tks, make([]uint64, 1)); err == nil {
		t.Error("FetchHash with len(tokens) != len(tokenKeys): got nil error, want an error")
	}
	if _, err := s.FetchHash(ctx, foreign, nil, nil); err == nil {
		t.Error("FetchHash of a key holding a value: got nil error, want an error")
	}
}

// testHashScanDelete: Scan lists a hash key, Delete removes it, and Set
// replaces it with a value.
func testHashScanDelete(t *testing.T, s store.Store, prefix string) {
	key, guard := rowKeys(prefix, "scan")
	g := ensure(t, s, guard)[0]
	setHashIf(t, s, key, []string{"f", "v"}, time.Hour, guard, g)
	if got := scanAll(t, s, prefix+"r:"); !got[key] || !got[guard] || len(got) != 2 {
		t.Errorf("Scan(%q) = %v, want %q and %q", prefix+"r:", got, key, guard)
	}
	if err := s.Delete(context.Background(), key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	if got, _ := fetchHash(t, s, key); got != nil {
		t.Errorf("FetchHash after Delete = %q, want nil", got)
	}
	setHashIf(t, s, key, []string{"f", "v"}, time.Hour, guard, g)
	set(t, s, key, []byte("value"), time.Hour)
	if v, _ := fetch(t, s, key); string(v) != "value" {
		t.Errorf("Fetch after Set over a hash = %q, want %q", v, "value")
	}
}

// testBumpAndRead: BumpAndRead bumps and logs as BumpAndLog does and returns
// each set's members and each token's value read after the bumps; without
// token keys it only reads; with nothing to do it does nothing.
func testBumpAndRead(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	tks := keys(prefix, "t:users", "t:orders")
	logKey := prefix + "log:db"
	setA, setB, missing := prefix+"set:a", prefix+"set:b", prefix+"set:missing"
	addMembers(t, s, setA, "r:1", "r:2")
	addMembers(t, s, setA, "r:2", "r:3")
	addMembers(t, s, setB, "x")
	before := ensure(t, s, tks...)
	entry := logAt(1, "UPDATE users SET a = 1", "users")
	other := prefix + "t:other"
	otherVal := ensure(t, s, other)[0]
	res, err := s.BumpAndRead(ctx, tks, logKey, entry, store.BumpRead{
		Sets: []string{setA, missing, setB}, Tokens: []string{tks[1], other, prefix + "t:missing"}})
	if err != nil {
		t.Fatalf("BumpAndRead: %v", err)
	}
	checkMembers(t, res.Members, [][]string{{"r:1", "r:2", "r:3"}, nil, {"x"}})
	_, after := fetch(t, s, prefix+"missing", tks...)
	for i := range tks {
		if after[i] == 0 || after[i] == before[i] {
			t.Errorf("token %q after BumpAndRead = %#x, was %#x, want a new non-zero value", tks[i], after[i], before[i])
		}
	}
	if want := []uint64{after[1], otherVal, 0}; !slices.Equal(res.Tokens, want) {
		t.Errorf("tokens read by BumpAndRead = %#x, want %#x (the new value, an unchanged one, a missing one)", res.Tokens, want)
	}
	if got := recentLog(t, s, logKey, 10); !slices.EqualFunc(got, []store.LogEntry{entry}, sameLog) {
		t.Errorf("RecentLog = %+v, want %+v", got, entry)
	}

	res, err = s.BumpAndRead(ctx, nil, logKey, logAt(2, "nothing"), store.BumpRead{Sets: []string{setB}})
	if err != nil {
		t.Fatalf("BumpAndRead without token keys: %v", err)
	}
	checkMembers(t, res.Members, [][]string{{"x"}})
	if res, err := s.BumpAndRead(ctx, nil, logKey, logAt(3, "nothing"), store.BumpRead{}); err != nil || res.Members != nil || res.Tokens != nil {
		t.Errorf("BumpAndRead of nothing = %+v, %v; want nothing", res, err)
	}
	if _, again := fetch(t, s, prefix+"missing", tks...); !slices.Equal(again, after) {
		t.Errorf("tokens after BumpAndRead without token keys = %#x, want unchanged %#x", again, after)
	}
	if got := recentLog(t, s, logKey, 10); len(got) != 1 {
		t.Errorf("RecentLog after BumpAndRead without token keys holds %d entries, want 1", len(got))
	}
}

// checkMembers compares the sets BumpAndRead returned, in any member order;
// a nil want needs a nil got.
func checkMembers(t *testing.T, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("BumpAndRead returned %d sets, want %d", len(got), len(want))
	}
	for i := range want {
		g := slices.Sorted(slices.Values(got[i]))
		if (want[i] == nil) != (got[i] == nil) || !slices.Equal(g, want[i]) {
			t.Errorf("set %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// testAddMembers: AddMembers adds to a set read by IndexMembers, listed by
// Scan and removed by Delete; it keeps a TTL the set has and refuses a key
// holding a value.
func testAddMembers(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	reg, empty := prefix+"set:reg", prefix+"set:empty"
	addMembers(t, s, reg, "a", "b", "a")
	addMembers(t, s, reg, "c")
	addMembers(t, s, empty)
	if got, want := indexMembers(t, s, reg), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("IndexMembers = %q, want %q", got, want)
	}
	if got := scanAll(t, s, prefix+"set:"); !got[reg] || len(got) != 1 {
		t.Errorf("Scan(%q) = %v, want only %q (no members, no set)", prefix+"set:", got, reg)
	}
	if err := s.Delete(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if got := indexMembers(t, s, reg); len(got) != 0 {
		t.Errorf("IndexMembers after Delete = %q, want none", got)
	}
	value := prefix + "value"
	set(t, s, value, []byte("v"), time.Hour)
	if err := s.AddMembers(ctx, value, "m"); err == nil {
		t.Error("AddMembers to a key holding a value: got nil error, want an error")
	}
	short := prefix + "set:short"
	setIndexed(t, s, prefix+"q:1", short, time.Hour, 20*time.Millisecond)
	addMembers(t, s, short, "m")
	deadline := time.Now().Add(10 * time.Second)
	for len(indexMembers(t, s, short)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("set with a 20ms TTL still present after AddMembers and 10s, want AddMembers to keep the TTL")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testHashCanceledContext(t *testing.T, s store.Store, prefix string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	key, guard := rowKeys(prefix, "canceled")
	g := ensure(t, s, guard)[0]
	tests := []struct {
		name string
		call func() error
	}{
		{"FetchHash", func() error { _, err := s.FetchHash(ctx, key, []string{guard}, make([]uint64, 1)); return err }},
		{"SetHashIf", func() error {
			_, err := s.SetHashIf(ctx, key, []string{"f", "v"}, time.Hour, guard, g, prefix+"idx", time.Hour)
			return err
		}},
		{"BumpAndRead", func() error {
			_, err := s.BumpAndRead(ctx, []string{guard}, prefix+"log", store.LogEntry{Cause: "c"}, store.BumpRead{Sets: []string{prefix + "set"}})
			return err
		}},
		{"AddMembers", func() error { return s.AddMembers(ctx, prefix+"set", "m") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled ctx: got error %v, want context.Canceled", tt.name, err)
			}
		})
	}
	if got, _ := fetchHash(t, s, key); got != nil {
		t.Errorf("SetHashIf with a canceled ctx stored %q, want nothing", got)
	}
	if token(t, s, guard) != g {
		t.Error("BumpAndRead with a canceled ctx bumped the token, want it unchanged")
	}
}
