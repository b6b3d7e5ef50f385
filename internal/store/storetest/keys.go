package storetest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

func testDelete(t *testing.T, s store.Store, prefix string) {
	a, b, c, tok := prefix+"a", prefix+"b", prefix+"c", prefix+"tok"
	for _, k := range []string{a, b, c} {
		set(t, s, k, []byte(k), time.Hour)
	}
	ensure(t, s, tok)
	if err := s.Delete(context.Background(), a, b, tok, prefix+"missing"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, k := range []string{a, b} {
		if v, _ := fetch(t, s, k); v != nil {
			t.Errorf("Fetch(%q) after Delete = %q, want nil", k, v)
		}
	}
	if v, _ := fetch(t, s, c); string(v) != c {
		t.Errorf("Fetch(%q) not deleted = %q, want %q", c, v, c)
	}
	if _, tokens := fetch(t, s, a, tok); tokens[0] != 0 {
		t.Errorf("token after Delete = %#x, want 0", tokens[0])
	}
	if err := s.Delete(context.Background(), c); err != nil {
		t.Fatalf("Delete of one key: %v", err)
	}
	if v, _ := fetch(t, s, c); v != nil {
		t.Errorf("Fetch(%q) after Delete = %q, want nil", c, v)
	}
	if err := s.Delete(context.Background()); err != nil {
		t.Errorf("Delete of no keys: %v", err)
	}
}

// scanAll returns the set of keys that Scan reports for prefix.
func scanAll(t *testing.T, s store.Store, prefix string) map[string]bool {
	t.Helper()
	got := make(map[string]bool)
	err := s.Scan(context.Background(), prefix, func(k string) bool {
		got[k] = true
		return true
	})
	if err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	return got
}

func testScan(t *testing.T, s store.Store, prefix string) {
	want := make(map[string]bool)
	for i := range 2500 { // more than one SCAN batch
		k := prefix + "in:" + strconv.Itoa(i)
		set(t, s, k, []byte("v"), time.Hour)
		want[k] = true
	}
	tok := prefix + "in:token"
	ensure(t, s, tok)
	want[tok] = true
	set(t, s, prefix+"out:1", []byte("v"), time.Hour)
	set(t, s, prefix+"i", []byte("v"), time.Hour)

	got := scanAll(t, s, prefix+"in:")
	if !maps.Equal(got, want) {
		t.Errorf("Scan found %d keys, want %d; extra: %q, missing: %q",
			len(got), len(want), diff(got, want), diff(want, got))
	}
	if got := scanAll(t, s, prefix+"nothing:"); len(got) != 0 {
		t.Errorf("Scan of an unused prefix found %q, want none", slices.Collect(maps.Keys(got)))
	}
}

// diff lists the keys of a missing from b, at most 5.
func diff(a, b map[string]bool) []string {
	var d []string
	for k := range a {
		if !b[k] && len(d) < 5 {
			d = append(d, k)
		}
	}
	return d
}

func testScanStops(t *testing.T, s store.Store, prefix string) {
	for i := range 20 {
		set(t, s, prefix+strconv.Itoa(i), []byte("v"), time.Hour)
	}
	calls := 0
	err := s.Scan(context.Background(), prefix, func(string) bool {
		calls++
		return calls < 3
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if calls != 3 {
		t.Errorf("Scan called fn %d times after it returned false on call 3, want 3", calls)
	}
}

// testScanGlobPrefix checks that SCAN pattern characters in a prefix match
// only themselves.
func testScanGlobPrefix(t *testing.T, s store.Store, prefix string) {
	in := prefix + `g*[x]?\:k`
	out := []string{prefix + `gZZx!\:k`, prefix + `g*x?\:k`, prefix + `g*[x]?:k`}
	set(t, s, in, []byte("v"), time.Hour)
	for _, k := range out {
		set(t, s, k, []byte("v"), time.Hour)
	}
	got := scanAll(t, s, prefix+`g*[x]?\:`)
	if want := map[string]bool{in: true}; !maps.Equal(got, want) {
		t.Errorf("Scan with glob characters found %q, want only %q", slices.Collect(maps.Keys(got)), in)
	}
}

func testCanceledContext(t *testing.T, s store.Store, prefix string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := prefix + "k"
	ks := []string{k}
	tests := []struct {
		name string
		call func() error
	}{
		{"Fetch", func() error { _, err := s.Fetch(ctx, k, ks, make([]uint64, 1)); return err }},
		{"EnsureTokens", func() error { return s.EnsureTokens(ctx, ks, make([]uint64, 1)) }},
		{"Bump", func() error { return s.Bump(ctx, ks) }},
		{"Set", func() error { return s.Set(ctx, k, []byte("v"), time.Hour) }},
		{"Delete", func() error { return s.Delete(ctx, k) }},
		{"Scan", func() error { return s.Scan(ctx, prefix, func(string) bool { return true }) }},
		{"Ping", func() error { return s.Ping(ctx) }},
		{"AddHot", func() error { return s.AddHot(ctx, k, map[string]float64{"m": 1}, 0.5, time.Hour) }},
		{"TopHot", func() error { _, err := s.TopHot(ctx, k, 1); return err }},
		{"BumpAndLog", func() error { return s.BumpAndLog(ctx, ks, k+"log", store.LogEntry{Cause: "c"}) }},
		{"RecentLog", func() error { _, err := s.RecentLog(ctx, k+"log", 1); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled ctx: got error %v, want context.Canceled", tt.name, err)
			}
		})
	}
	if v, _ := fetch(t, s, k); v != nil {
		t.Errorf("Set with a canceled ctx stored %q, want nothing", v)
	}
}

func testPing(t *testing.T, s store.Store, _ string) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
