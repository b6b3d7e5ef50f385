package store_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/store/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, string) {
		return store.NewMemory(store.MemoryOptions{MaxValueBytes: storetest.MaxValueBytes}), "test:"
	})
}

func TestMemoryTTLFakeClock(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		advance time.Duration
		present bool
	}{
		{"fresh", 0, true},
		{"just before", 10*time.Second - time.Nanosecond, true},
		{"at ttl", 10 * time.Second, false},
		{"after", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			m := store.NewMemory(store.MemoryOptions{Clock: clk})
			ctx := context.Background()
			if err := m.Set(ctx, "e", []byte("v"), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := m.EnsureTokens(ctx, []string{"tok"}, make([]uint64, 1)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.advance)
			tokens := make([]uint64, 1)
			v, err := m.Fetch(ctx, "e", []string{"tok"}, tokens)
			if err != nil {
				t.Fatal(err)
			}
			if got := v != nil; got != tt.present {
				t.Errorf("entry present after %v = %v, want %v", tt.advance, got, tt.present)
			}
			if tokens[0] == 0 {
				t.Errorf("token after %v = 0, want it kept (tokens have no TTL)", tt.advance)
			}
		})
	}
}

func TestMemoryScanSkipsExpired(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	m := store.NewMemory(store.MemoryOptions{Clock: clk})
	ctx := context.Background()
	for _, k := range []string{"p:short", "p:long"} {
		ttl := time.Minute
		if k == "p:short" {
			ttl = time.Second
		}
		if err := m.Set(ctx, k, []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Second)
	var got []string
	if err := m.Scan(ctx, "p:", func(k string) bool { got = append(got, k); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "p:long" {
		t.Errorf("Scan after expiry = %q, want [p:long]", got)
	}
}

// TestMemoryScanCallbackMayDelete checks that fn runs without the store's
// lock held: deleting from inside Scan must not deadlock.
func TestMemoryScanCallbackMayDelete(t *testing.T) {
	m := store.NewMemory(store.MemoryOptions{})
	ctx := context.Background()
	for _, k := range []string{"p:1", "p:2", "p:3"} {
		if err := m.Set(ctx, k, []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	err := m.Scan(ctx, "p:", func(k string) bool { return m.Delete(ctx, k) == nil })
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := m.Scan(ctx, "p:", func(string) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("keys left after deleting each from Scan = %d, want 0", n)
	}
}

// TestMemoryHeapBound (issue 8): many distinct small entries, each listed in an index set as the caching
// layer lists the entries of a rule, keep the heap within a small multiple of MaxBytes: bookkeeping and
// index sets count, and an evicted entry leaves its set.
func TestMemoryHeapBound(t *testing.T) {
	const maxBytes = 16 << 20
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := store.NewMemory(store.MemoryOptions{MaxBytes: maxBytes})
	value := make([]byte, 64)
	for i := range 400_000 {
		key := fmt.Sprintf("cachedsql:q:db:%016x:%032x", i, i) // as long as an entry's key
		if err := m.SetIndexed(ctx, key, value, time.Hour, "cachedsql:k:rule:"+strconv.Itoa(i%8), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(m)
	// The margin covers map growth and allocation rounding; unbounded bookkeeping is several times more.
	if heap := int64(after.HeapAlloc) - int64(before.HeapAlloc); heap > 2*maxBytes {
		t.Errorf("heap after 400k entries under MaxBytes %d MiB: %d MiB, want at most %d MiB",
			maxBytes>>20, heap>>20, 2*maxBytes>>20)
	} else {
		t.Logf("heap %d MiB for MaxBytes %d MiB", heap>>20, maxBytes>>20)
	}
}
