package store

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
)

// checkInvariants verifies the bookkeeping of m: the byte count, the LRU ring
// holding exactly the entries, and the bound on bytes when entries remain.
func checkInvariants(t *testing.T, m *Memory) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var bytes int64
	entries := 0
	for k, it := range m.mu.items {
		if it.key != k {
			t.Fatalf("item at %q has key %q", k, it.key)
		}
		bytes += it.size()
		if !it.pinned {
			entries++
		}
	}
	for k, x := range m.mu.index {
		n := int64(len(k)) + setOverhead
		for mem := range x.members {
			n += int64(len(mem)) + memberOverhead
		}
		if n != x.bytes {
			t.Fatalf("index set %q counts %d bytes, want %d", k, x.bytes, n)
		}
		bytes += n
	}
	if bytes != m.mu.bytes {
		t.Fatalf("byte count = %d, want %d (sum over items and index sets)", m.mu.bytes, bytes)
	}
	ring := 0
	for it := m.mu.lru.next; it != &m.mu.lru; it = it.next {
		if it.pinned || m.mu.items[it.key] != it || it.next.prev != it {
			t.Fatalf("LRU ring holds a stray item %q", it.key)
		}
		ring++
	}
	if ring != entries {
		t.Fatalf("LRU ring has %d items, want %d entries", ring, entries)
	}
	if entries > 0 && m.mu.bytes > m.maxBytes {
		t.Fatalf("bytes = %d with entries left, want <= MaxBytes %d", m.mu.bytes, m.maxBytes)
	}
}

func TestMemoryEvictionBound(t *testing.T) {
	const maxBytes = 10_000
	m := NewMemory(MemoryOptions{MaxBytes: maxBytes})
	ctx := context.Background()
	tokens := make([]uint64, 1)
	if err := m.EnsureTokens(ctx, []string{"token"}, tokens); err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 490)
	for i := range 200 {
		if err := m.Set(ctx, "entry:"+strconv.Itoa(i), value, time.Hour); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, m)
	}
	got := make([]uint64, 1)
	v, err := m.Fetch(ctx, "entry:199", []string{"token"}, got)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		t.Error("most recent entry was evicted, want it kept")
	}
	if got[0] != tokens[0] {
		t.Errorf("token after eviction = %#x, want %#x (tokens are never evicted)", got[0], tokens[0])
	}
	if v, _ := m.Fetch(ctx, "entry:0", nil, nil); v != nil {
		t.Error("oldest entry kept past MaxBytes, want it evicted")
	}
}

// TestMemoryEvictsLeastRecentlyUsed reads the oldest entry before the store
// fills up: it must outlive entries written after it but not read since.
func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	m := NewMemory(MemoryOptions{MaxBytes: 5 * (20 + itemOverhead)})
	ctx := context.Background()
	set := func(k string) {
		t.Helper()
		if err := m.Set(ctx, k, make([]byte, 19), time.Hour); err != nil { // 20 bytes with key, and the overhead
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		set(k)
	}
	if v, _ := m.Fetch(ctx, "a", nil, nil); v == nil {
		t.Fatal("entry a missing before the store was full")
	}
	set("f")
	tests := []struct {
		key     string
		present bool
	}{{"a", true}, {"b", false}, {"c", true}, {"f", true}}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			v, _ := m.Fetch(ctx, tt.key, nil, nil)
			if got := v != nil; got != tt.present {
				t.Errorf("entry %q present = %v, want %v", tt.key, got, tt.present)
			}
		})
	}
}

func TestMemoryOversizedValue(t *testing.T) {
	m := NewMemory(MemoryOptions{MaxBytes: 100})
	ctx := context.Background()
	if err := m.Set(ctx, "k", []byte("small"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "k", make([]byte, 200), time.Hour); err != nil {
		t.Fatalf("Set of an oversized value: %v", err)
	}
	if v, _ := m.Fetch(ctx, "k", nil, nil); v != nil {
		t.Errorf("Fetch after an oversized Set = %d bytes, want nil (not kept, old value gone)", len(v))
	}
	checkInvariants(t, m)
}

// TestMemorySweep checks that writes drop expired entries nobody reads.
func TestMemorySweep(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	m := NewMemory(MemoryOptions{Clock: clk})
	ctx := context.Background()
	const stale = 20 // fewer than sweepSample, so one sweep sees them all
	for i := range stale {
		if err := m.Set(ctx, "old:"+strconv.Itoa(i), []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute)
	for range sweepEvery - stale {
		if err := m.Set(ctx, "new", []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	checkInvariants(t, m)
	m.mu.Lock()
	n := len(m.mu.items)
	m.mu.Unlock()
	if n != 1 {
		t.Errorf("items after a sweep = %d, want 1 (expired entries dropped)", n)
	}
}

// TestMemoryRandomOps runs a random mix of operations and checks the
// bookkeeping after each.
func TestMemoryRandomOps(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	m := NewMemory(MemoryOptions{MaxBytes: 2000, Clock: clk})
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	tokens := make([]uint64, 2)
	for range 5000 {
		k := "k" + strconv.Itoa(r.IntN(40))
		var err error
		switch r.IntN(6) {
		case 0:
			err = m.Set(ctx, k, make([]byte, r.IntN(300)), time.Duration(1+r.IntN(10))*time.Second)
		case 1:
			_, err = m.Fetch(ctx, k, []string{"k1", "k2"}, tokens)
		case 2:
			err = m.EnsureTokens(ctx, []string{k, "k3"}, tokens)
		case 3:
			err = m.Bump(ctx, []string{k})
		case 4:
			err = m.Delete(ctx, k, "k5")
		case 5:
			clk.Advance(time.Duration(r.IntN(2000)) * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, m)
	}
}
