package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
)

// mustSetHash stores fields at key guarded by the current token at guard,
// creating it if needed, and fails the test unless it stored.
func mustSetHash(t *testing.T, m *Memory, key, guard string, ttl time.Duration, fields ...string) {
	t.Helper()
	ctx := context.Background()
	tokens := make([]uint64, 1)
	if err := m.EnsureTokens(ctx, []string{guard}, tokens); err != nil {
		t.Fatal(err)
	}
	stored, err := m.SetHashIf(ctx, key, fields, ttl, guard, tokens[0], "", 0)
	if err != nil || !stored {
		t.Fatalf("SetHashIf(%q) = %v, %v; want true, nil", key, stored, err)
	}
}

func TestMemoryHashBytes(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   int64 // bytes of the hash item
	}{
		{"one field", []string{"id", "42"}, 1 + 2 + 2},
		{"two fields", []string{"id", "42", "name", "ada"}, 1 + 4 + 7},
		{"repeated name", []string{"x", "1", "x", "22"}, 1 + 3},
		{"empty strings", []string{"", ""}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory(MemoryOptions{})
			mustSetHash(t, m, "k", "g", time.Hour, tt.fields...)
			mustSetHash(t, m, "k", "g", time.Hour, tt.fields...) // a replacement must not double count
			checkInvariants(t, m)
			m.mu.Lock()
			got := m.mu.bytes - int64(len("g")+tokenLen+itemOverhead)
			m.mu.Unlock()
			if got != tt.want+itemOverhead {
				t.Errorf("bytes of the hash = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestMemoryHashEviction fills a small store with hashes: the least recently
// used go first (FetchHash counts as a use), tokens and AddMembers sets stay.
func TestMemoryHashEviction(t *testing.T) {
	// The registry (its name, one member and their overheads), the token g, and four hashes fit.
	registry := int64(len("registry")+setOverhead+5+memberOverhead) + 1 + tokenLen + itemOverhead
	m := NewMemory(MemoryOptions{MaxBytes: registry + 4*(39+itemOverhead) + 20})
	ctx := context.Background()
	if err := m.AddMembers(ctx, "registry", strings.Repeat("m", 5)); err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("v", 36) // with key "hN" and name "f": 39 bytes, and the overhead
	for _, k := range []string{"h1", "h2", "h3", "h4"} {
		mustSetHash(t, m, k, "g", time.Hour, "f", value)
	}
	if h, err := m.FetchHash(ctx, "h1", nil, nil); err != nil || h == nil {
		t.Fatalf("FetchHash(h1) = %v, %v; want the hash", h, err)
	}
	mustSetHash(t, m, "h5", "g", time.Hour, "f", value) // five do not fit: evicts h2
	checkInvariants(t, m)
	for k, want := range map[string]bool{"h1": true, "h2": false, "h3": true, "h5": true} {
		if h, _ := m.FetchHash(ctx, k, nil, nil); (h != nil) != want {
			t.Errorf("hash %q present = %v, want %v", k, h != nil, want)
		}
	}
	if got, _ := m.IndexMembers(ctx, "registry"); len(got) != 1 {
		t.Errorf("AddMembers set after eviction = %q, want it kept", got)
	}
	if tok := make([]uint64, 1); m.EnsureTokens(ctx, []string{"g"}, tok) != nil || tok[0] == 0 {
		t.Error("guard token evicted, want it kept")
	}
}

func TestMemoryOversizedHash(t *testing.T) {
	m := NewMemory(MemoryOptions{MaxBytes: 100 + 2*itemOverhead})
	ctx := context.Background()
	mustSetHash(t, m, "k", "g", time.Hour, "f", "small")
	mustSetHash(t, m, "k", "g", time.Hour, "f", strings.Repeat("x", 200))
	if h, _ := m.FetchHash(ctx, "k", nil, nil); h != nil {
		t.Errorf("FetchHash after an oversized SetHashIf = %d fields, want nil (not kept, old hash gone)", len(h))
	}
	checkInvariants(t, m)
}

// TestMemoryHashTTLFakeClock checks the exact expiry of a hash and that a set
// of AddMembers never expires until SetIndexed gives it a TTL.
func TestMemoryHashTTLFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	m := NewMemory(MemoryOptions{Clock: clk})
	ctx := context.Background()
	mustSetHash(t, m, "h", "g", 10*time.Second, "f", "v")
	if err := m.AddMembers(ctx, "reg", "a"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10*time.Second - time.Nanosecond)
	if h, _ := m.FetchHash(ctx, "h", nil, nil); h == nil {
		t.Error("hash gone just before its TTL, want present")
	}
	clk.Advance(time.Nanosecond)
	if h, _ := m.FetchHash(ctx, "h", nil, nil); h != nil {
		t.Error("hash present at its TTL, want gone")
	}
	clk.Advance(100 * 365 * 24 * time.Hour)
	if got, _ := m.IndexMembers(ctx, "reg"); len(got) != 1 {
		t.Errorf("AddMembers set after 100 years = %q, want it kept (no TTL)", got)
	}
	if err := m.SetIndexed(ctx, "e", []byte("v"), time.Hour, "reg", time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if got, _ := m.IndexMembers(ctx, "reg"); len(got) != 0 {
		t.Errorf("set after the TTL SetIndexed gave it = %q, want gone", got)
	}
}

// TestMemoryHashRandomOps runs a random mix of operations on values, hashes,
// tokens and sets, and checks the bookkeeping after each.
func TestMemoryHashRandomOps(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	m := NewMemory(MemoryOptions{MaxBytes: 2000, Clock: clk})
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	tokens := make([]uint64, 2)
	hashes := 0 // stored by SetHashIf
	for range 5000 {
		k := "k" + strconv.Itoa(r.IntN(40))
		var err error
		switch r.IntN(8) {
		case 0:
			err = m.Set(ctx, k, make([]byte, r.IntN(300)), time.Duration(1+r.IntN(10))*time.Second)
		case 1:
			fields := make([]string, 2*(1+r.IntN(4)))
			for i := range fields {
				fields[i] = strings.Repeat("x", r.IntN(60))
			}
			guard, tok := "k"+strconv.Itoa(r.IntN(40)), make([]uint64, 1)
			if _, err = m.Fetch(ctx, "", []string{guard}, tok); err != nil {
				t.Fatal(err)
			}
			var ok bool
			ok, err = m.SetHashIf(ctx, k, fields, time.Duration(1+r.IntN(10))*time.Second,
				guard, tok[0]+uint64(r.IntN(3)/2), "idx", time.Second) // the current token 2 times in 3
			hashes += bool2int(ok)
			if errors.Is(err, errWrongTypeGuard) || errors.Is(err, errWrongTypeIndex) { // a hash or value at guard or idx
				err = nil
			}
		case 2:
			_, err = m.FetchHash(ctx, k, []string{"k1", "k2"}, tokens)
			if errors.Is(err, ErrWrongType) { // the key holds a value
				err = nil
			}
		case 3:
			err = m.EnsureTokens(ctx, []string{k, "k3"}, tokens)
		case 4:
			_, err = m.BumpAndRead(ctx, []string{k}, "log", LogEntry{}, BumpRead{Sets: []string{"set"}, Tokens: []string{k}})
		case 5:
			err = m.Delete(ctx, k, "k5")
		case 6:
			err = m.AddMembers(ctx, "set", k)
		case 7:
			clk.Advance(time.Duration(r.IntN(2000)) * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, m)
	}
	if hashes < 100 {
		t.Errorf("SetHashIf stored %d times in 5000 operations, want at least 100", hashes)
	}
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}
