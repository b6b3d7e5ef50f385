package storetest

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

// testTTLExpiry works in real time, since a store's clock is its own: an
// entry with a short TTL must disappear (polled up to a deadline, so a slow
// machine only makes the test slower), and one with a long TTL must stay.
// Stores with an injectable clock test exact expiry times on their own.
func testTTLExpiry(t *testing.T, s store.Store, prefix string) {
	long, short := prefix+"long", prefix+"short"
	set(t, s, long, []byte("v"), time.Hour)
	set(t, s, short, []byte("v"), 20*time.Millisecond)

	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		v, _ := fetch(t, s, short)
		if v == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry with a 20ms TTL still present after 10s")
		}
		<-tick.C
	}
	if v, _ := fetch(t, s, long); v == nil {
		t.Errorf("entry with a 1h TTL is gone, want it present")
	}
}

func testEnsureTokens(t *testing.T, s store.Store, prefix string) {
	tks := keys(prefix, "t1", "t2", "t3")
	first := ensure(t, s, tks...)
	if first[0] == first[1] || first[1] == first[2] || first[0] == first[2] {
		t.Errorf("EnsureTokens created equal tokens %v, want distinct random values", first)
	}
	again := ensure(t, s, tks...)
	if !slices.Equal(again, first) {
		t.Errorf("second EnsureTokens = %v, want the existing %v", again, first)
	}
	_, fetched := fetch(t, s, prefix+"entry", tks...)
	if !slices.Equal(fetched, first) {
		t.Errorf("Fetch tokens = %v, want %v", fetched, first)
	}
	// A mix of existing and new keys keeps the existing ones.
	mixed := ensure(t, s, tks[1], prefix+"t4")
	if mixed[0] != first[1] {
		t.Errorf("EnsureTokens of an existing key = %#x, want %#x", mixed[0], first[1])
	}
	if err := s.EnsureTokens(context.Background(), nil, nil); err != nil {
		t.Errorf("EnsureTokens of no keys: %v", err)
	}
}

// testEnsureTokensConcurrent starts many EnsureTokens at once on the same
// missing keys: all must report the same value for each key.
func testEnsureTokensConcurrent(t *testing.T, s store.Store, prefix string) {
	const workers = 32
	tks := keys(prefix, "a", "b", "c", "d")
	results := make([][]uint64, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		results[w] = make([]uint64, len(tks))
		wg.Go(func() {
			<-start
			errs[w] = s.EnsureTokens(context.Background(), tks, results[w])
		})
	}
	close(start)
	wg.Wait()
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: EnsureTokens: %v", w, errs[w])
		}
		if !slices.Equal(results[w], results[0]) {
			t.Errorf("worker %d got tokens %v, worker 0 got %v, want equal", w, results[w], results[0])
		}
	}
	_, stored := fetch(t, s, prefix+"entry", tks...)
	if !slices.Equal(stored, results[0]) {
		t.Errorf("stored tokens = %v, want %v", stored, results[0])
	}
}

func testBump(t *testing.T, s store.Store, prefix string) {
	tks := keys(prefix, "a", "b", "c")
	before := ensure(t, s, tks...)
	bump(t, s, tks[0], tks[1], prefix+"new")
	_, after := fetch(t, s, prefix+"entry", append(tks, prefix+"new")...)
	for i := range 2 {
		if after[i] == before[i] || after[i] == 0 {
			t.Errorf("token %q after Bump = %#x, was %#x, want a new non-zero value", tks[i], after[i], before[i])
		}
	}
	if after[2] != before[2] {
		t.Errorf("token %q not bumped = %#x, want unchanged %#x", tks[2], after[2], before[2])
	}
	if after[3] == 0 {
		t.Errorf("Bump of a missing token key left it 0, want it created")
	}
	if err := s.Bump(context.Background(), nil); err != nil {
		t.Errorf("Bump of no keys: %v", err)
	}
}

// testBumpNeverRepeats bumps 10,000 token values in all and checks that none
// is 0 and none repeats.
func testBumpNeverRepeats(t *testing.T, s store.Store, prefix string) {
	const rounds, width = 200, 50
	tks := make([]string, width)
	for i := range tks {
		tks[i] = prefix + "t" + strconv.Itoa(i)
	}
	seen := make(map[uint64]bool, rounds*width)
	tokens := make([]uint64, width)
	for r := range rounds {
		bump(t, s, tks...)
		if _, err := s.Fetch(context.Background(), prefix+"entry", tks, tokens); err != nil {
			t.Fatalf("round %d: Fetch: %v", r, err)
		}
		for i, v := range tokens {
			if v == 0 {
				t.Fatalf("round %d: token %q = 0 after Bump", r, tks[i])
			}
			if seen[v] {
				t.Fatalf("round %d: token %q = %#x, a value seen before", r, tks[i], v)
			}
			seen[v] = true
		}
	}
}

// testForeignToken stores a value this package did not write at a token key:
// it must read as one stable non-zero token that EnsureTokens keeps and Bump
// replaces.
func testForeignToken(t *testing.T, s store.Store, prefix string) {
	tests := []struct {
		name  string
		value string
	}{
		{"text", "not a token"},
		{"empty", ""},
		{"zero", "0000000000000000"},
		{"upper hex", "00000000000000AB"},
		{"short hex", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := prefix + "foreign:" + tt.name
			set(t, s, key, []byte(tt.value), time.Hour)
			_, got := fetch(t, s, prefix+"entry", key)
			if got[0] == 0 {
				t.Fatalf("foreign token %q reads as 0, want non-zero", tt.value)
			}
			if _, again := fetch(t, s, prefix+"entry", key); again[0] != got[0] {
				t.Errorf("foreign token read twice = %#x then %#x, want stable", got[0], again[0])
			}
			if ensured := ensure(t, s, key); ensured[0] != got[0] {
				t.Errorf("EnsureTokens on a foreign token = %#x, want %#x as Fetch read it", ensured[0], got[0])
			}
			bump(t, s, key)
			if _, bumped := fetch(t, s, prefix+"entry", key); bumped[0] == got[0] || bumped[0] == 0 {
				t.Errorf("foreign token after Bump = %#x, want a new non-zero value", bumped[0])
			}
		})
	}
}
