// Package storetest is the contract test suite that every store.Store
// implementation must pass.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

// NewFunc returns a fresh store for one test, and a key prefix unique to that
// test under which every key the test uses is created. It registers any
// cleanup it needs with t. The store's value bound (see [store.Store.Fetch])
// must be [MaxValueBytes].
type NewFunc func(t *testing.T) (store.Store, string)

// MaxValueBytes is the value bound of the stores under test.
const MaxValueBytes = 1 << 20

// Run runs the contract suite against the stores that newStore returns, one
// per subtest.
func Run(t *testing.T, newStore NewFunc) {
	tests := []struct {
		name string
		test func(t *testing.T, s store.Store, prefix string)
	}{
		{"FetchMissing", testFetchMissing},
		{"FetchTokenLenMismatch", testFetchTokenLenMismatch},
		{"FetchKeyErrors", testFetchKeyErrors},
		{"TokenKeyWrongType", testTokenKeyWrongType},
		{"SetFetch", testSetFetch},
		{"SetOverwrites", testSetOverwrites},
		{"SetBadTTL", testSetBadTTL},
		{"FetchCopies", testFetchCopies},
		{"TTLExpiry", testTTLExpiry},
		{"EnsureTokensCreatesThenKeeps", testEnsureTokens},
		{"EnsureTokensConcurrent", testEnsureTokensConcurrent},
		{"Bump", testBump},
		{"BumpNeverRepeats", testBumpNeverRepeats},
		{"ForeignToken", testForeignToken},
		{"Delete", testDelete},
		{"Scan", testScan},
		{"ScanStops", testScanStops},
		{"ScanGlobPrefix", testScanGlobPrefix},
		{"CanceledContext", testCanceledContext},
		{"Ping", testPing},
		{"HotDecay", testHotDecay},
		{"HotTop", testHotTop},
		{"HotTTL", testHotTTL},
		{"HotBadArgs", testHotBadArgs},
		{"BumpAndLog", testBumpAndLog},
		{"LogCapped", testLogCapped},
		{"LogScanDelete", testLogScanDelete},
		{"SetIndexed", testSetIndexed},
		{"SetIndexedTTL", testSetIndexedTTL},
		{"SetHashIfGuard", testSetHashIfGuard},
		{"SetHashIfReplaces", testSetHashIfReplaces},
		{"SetHashIfTTL", testSetHashIfTTL},
		{"SetHashIfBadArgs", testSetHashIfBadArgs},
		{"SetHashIfIndex", testSetHashIfIndex},
		{"SetHashIfInterleavings", testSetHashIfInterleavings},
		{"SetHashIfRacesBump", testSetHashIfRacesBump},
		{"FetchHash", testFetchHash},
		{"HashScanDelete", testHashScanDelete},
		{"BumpAndRead", testBumpAndRead},
		{"AddMembers", testAddMembers},
		{"HashCanceledContext", testHashCanceledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, prefix := newStore(t)
			tt.test(t, s, prefix)
		})
	}
}

// keys returns prefix+name for each name.
func keys(prefix string, names ...string) []string {
	ks := make([]string, len(names))
	for i, n := range names {
		ks[i] = prefix + n
	}
	return ks
}

func fetch(t *testing.T, s store.Store, key string, tokenKeys ...string) ([]byte, []uint64) {
	t.Helper()
	tokens := make([]uint64, len(tokenKeys))
	for i := range tokens {
		tokens[i] = 0xbad // must be overwritten, also when missing
	}
	v, err := s.Fetch(context.Background(), key, tokenKeys, tokens)
	if err != nil {
		t.Fatalf("Fetch(%q, %q): %v", key, tokenKeys, err)
	}
	return v, tokens
}

func set(t *testing.T, s store.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, value, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func ensure(t *testing.T, s store.Store, tokenKeys ...string) []uint64 {
	t.Helper()
	tokens := make([]uint64, len(tokenKeys))
	if err := s.EnsureTokens(context.Background(), tokenKeys, tokens); err != nil {
		t.Fatalf("EnsureTokens(%q): %v", tokenKeys, err)
	}
	for i, v := range tokens {
		if v == 0 {
			t.Fatalf("EnsureTokens: token of %q = 0, want non-zero", tokenKeys[i])
		}
	}
	return tokens
}

func bump(t *testing.T, s store.Store, tokenKeys ...string) {
	t.Helper()
	if err := s.Bump(context.Background(), tokenKeys); err != nil {
		t.Fatalf("Bump(%q): %v", tokenKeys, err)
	}
}

func testFetchMissing(t *testing.T, s store.Store, prefix string) {
	v, tokens := fetch(t, s, prefix+"entry", keys(prefix, "t1", "t2")...)
	if v != nil {
		t.Errorf("Fetch of missing entry = %q, want nil", v)
	}
	if want := []uint64{0, 0}; !slices.Equal(tokens, want) {
		t.Errorf("missing tokens = %v, want %v", tokens, want)
	}
	if v, _ := fetch(t, s, prefix+"entry"); v != nil {
		t.Errorf("Fetch without tokens = %q, want nil", v)
	}
}

func testFetchTokenLenMismatch(t *testing.T, s store.Store, prefix string) {
	_, err := s.Fetch(context.Background(), prefix+"e", keys(prefix, "a", "b"), make([]uint64, 1))
	if err == nil {
		t.Error("Fetch with len(tokens) != len(tokenKeys): got nil error, want an error")
	}
}

func testSetFetch(t *testing.T, s store.Store, prefix string) {
	tests := []struct {
		name  string
		value []byte
	}{
		{"text", []byte("hello")},
		{"binary with NUL", []byte{0, 1, 2, 0, 0xff, 0xfe, 0}},
		{"large", bytes.Repeat([]byte{0, 'x', 0x80}, 100_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := prefix + tt.name
			set(t, s, key, tt.value, time.Hour)
			got, _ := fetch(t, s, key)
			if got == nil {
				t.Fatalf("Fetch(%q) = nil, want %d bytes", key, len(tt.value))
			}
			if !bytes.Equal(got, tt.value) {
				t.Errorf("Fetch(%q) = %q, want %q", key, got, tt.value)
			}
		})
	}
}

// testFetchKeyErrors (issue 8): a key of the wrong type or holding a value over
// the bound is a *KeyError for that key alone (never a store failure); other
// keys and the tokens read fine, and Set or Delete clears it.
func testFetchKeyErrors(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	hash, guard := rowKeys(prefix, "hash")
	setHashIf(t, s, hash, []string{"f", "v"}, time.Hour, guard, ensure(t, s, guard)[0])
	set(t, s, prefix+"big", bytes.Repeat([]byte{'x'}, MaxValueBytes+1), time.Hour)
	set(t, s, prefix+"max", bytes.Repeat([]byte{'x'}, MaxValueBytes), time.Hour)
	set(t, s, prefix+"value", []byte("v"), time.Hour)
	if err := s.AddMembers(ctx, prefix+"set", "m"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key string
		want      error
		fetchHash bool
	}{
		{"hash read as value", hash, store.ErrWrongType, false},
		{"set read as value", prefix + "set", store.ErrWrongType, false},
		{"value over the bound", prefix + "big", store.ErrTooLarge, false},
		{"value read as hash", prefix + "value", store.ErrWrongType, true},
		{"set read as hash", prefix + "set", store.ErrWrongType, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.fetchHash {
				_, err = s.FetchHash(ctx, tt.key, nil, nil)
			} else {
				_, err = s.Fetch(ctx, tt.key, []string{guard}, make([]uint64, 1))
			}
			var ke *store.KeyError
			if !errors.As(err, &ke) || !errors.Is(err, tt.want) || ke.Key != tt.key {
				t.Fatalf("got %v, want a *store.KeyError for %q wrapping %v", err, tt.key, tt.want)
			}
		})
	}
	if got, _ := fetch(t, s, prefix+"max"); len(got) != MaxValueBytes {
		t.Errorf("Fetch of a value at the bound: %d bytes, want %d", len(got), MaxValueBytes)
	}
	set(t, s, hash, []byte("v"), time.Hour)
	if err := s.Delete(ctx, prefix+"big"); err != nil {
		t.Fatal(err)
	}
	if got, _ := fetch(t, s, hash); string(got) != "v" {
		t.Errorf("Fetch after Set replaced a hash = %q, want v", got)
	}
	if got, _ := fetch(t, s, prefix+"big"); got != nil {
		t.Errorf("Fetch after Delete of an oversized value = %d bytes, want nil", len(got))
	}
}

// testTokenKeyWrongType (issue 8): a token key holding a set or a hash reads
// as a missing token, and EnsureTokens replaces it with a token rather than
// failing (one bad key must not fail every read of a table).
func testTokenKeyWrongType(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	set := prefix + "tok:set"
	if err := s.AddMembers(ctx, set, "m"); err != nil {
		t.Fatal(err)
	}
	hash, guard := rowKeys(prefix, "tok")
	setHashIf(t, s, hash, []string{"f", "v"}, time.Hour, guard, ensure(t, s, guard)[0])
	for _, k := range []string{set, hash} {
		if _, tokens := fetch(t, s, prefix+"entry", k); tokens[0] != 0 {
			t.Errorf("token of %q holding another type = %#x, want 0", k, tokens[0])
		}
		first := ensure(t, s, k)[0]
		if again := ensure(t, s, k)[0]; again != first {
			t.Errorf("EnsureTokens(%q) after the repair = %#x, want %#x", k, again, first)
		}
		if _, tokens := fetch(t, s, prefix+"entry", k); tokens[0] != first {
			t.Errorf("Fetch of repaired token %q = %#x, want %#x", k, tokens[0], first)
		}
	}
}

func testSetOverwrites(t *testing.T, s store.Store, prefix string) {
	key := prefix + "e"
	set(t, s, key, []byte("first"), time.Hour)
	set(t, s, key, []byte("second"), time.Hour)
	if got, _ := fetch(t, s, key); string(got) != "second" {
		t.Errorf("Fetch after two Sets = %q, want %q", got, "second")
	}
}

func testSetBadTTL(t *testing.T, s store.Store, prefix string) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := s.Set(context.Background(), prefix+"e", []byte("v"), ttl); err == nil {
			t.Errorf("Set with ttl %v: got nil error, want an error", ttl)
		}
	}
}

func testFetchCopies(t *testing.T, s store.Store, prefix string) {
	key := prefix + "e"
	value := []byte("original")
	set(t, s, key, value, time.Hour)
	value[0] = 'X' // the caller may reuse its buffer after Set
	got, _ := fetch(t, s, key)
	if string(got) != "original" {
		t.Fatalf("Fetch after the caller changed its buffer = %q, want %q", got, "original")
	}
	got[0] = 'Y' // and may modify what Fetch returned
	if again, _ := fetch(t, s, key); string(again) != "original" {
		t.Errorf("Fetch after the caller changed a fetched value = %q, want %q", again, "original")
	}
}
