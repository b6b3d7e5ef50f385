package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

// logAt is a log entry made at minute min of a fixed day, in UTC so that it
// survives the JSON round trip unchanged.
func logAt(min int, cause string, tables ...string) store.LogEntry {
	return store.LogEntry{
		Time:   time.Date(2026, 1, 2, 3, min, 5, 6, time.UTC),
		Cause:  cause,
		Tables: tables,
	}
}

func recentLog(t *testing.T, s store.Store, key string, n int) []store.LogEntry {
	t.Helper()
	got, err := s.RecentLog(context.Background(), key, n)
	if err != nil {
		t.Fatalf("RecentLog(%q, %d): %v", key, n, err)
	}
	return got
}

func sameLog(a, b store.LogEntry) bool {
	return a.Time.Equal(b.Time) && a.Cause == b.Cause && slices.Equal(a.Tables, b.Tables)
}

// testBumpAndLog checks that BumpAndLog replaces the tokens and pushes its
// entry, that RecentLog returns the entries newest first and honours n, and
// that a call without token keys does nothing.
func testBumpAndLog(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	tks := keys(prefix, "t:users", "t:orders")
	logKey := prefix + "log:db"
	before := ensure(t, s, tks...)
	entries := []store.LogEntry{
		logAt(1, "UPDATE users SET a = 1", "users"),
		logAt(2, "COMMIT", "users", "orders"),
		logAt(3, "DROP TABLE x", "*"),
	}
	for _, e := range entries {
		if err := s.BumpAndLog(ctx, tks, logKey, e); err != nil {
			t.Fatalf("BumpAndLog(%q): %v", e.Cause, err)
		}
	}
	_, after := fetch(t, s, prefix+"missing", tks...)
	for i := range tks {
		if after[i] == 0 || after[i] == before[i] {
			t.Errorf("token %q after BumpAndLog = %#x, was %#x, want a new non-zero value", tks[i], after[i], before[i])
		}
	}
	if err := s.BumpAndLog(ctx, nil, logKey, logAt(4, "nothing")); err != nil {
		t.Errorf("BumpAndLog of no keys: %v", err)
	}
	tests := []struct {
		n    int
		want []store.LogEntry
	}{
		{10, []store.LogEntry{entries[2], entries[1], entries[0]}},
		{2, []store.LogEntry{entries[2], entries[1]}},
		{0, nil},
		{-1, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("n=", tt.n), func(t *testing.T) {
			got := recentLog(t, s, logKey, tt.n)
			if !slices.EqualFunc(got, tt.want, sameLog) {
				t.Errorf("RecentLog(n=%d) = %+v, want %+v", tt.n, got, tt.want)
			}
		})
	}
	if got := recentLog(t, s, prefix+"log:missing", 5); len(got) != 0 {
		t.Errorf("RecentLog of a missing key = %+v, want none", got)
	}
}

// testLogCapped pushes more than LogCap entries and checks that only the
// newest LogCap are kept.
func testLogCapped(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	tks := keys(prefix, "t:a")
	logKey := prefix + "log:db"
	const pushed = store.LogCap + 5
	for i := range pushed {
		if err := s.BumpAndLog(ctx, tks, logKey, logAt(0, fmt.Sprint(i), "a")); err != nil {
			t.Fatalf("BumpAndLog %d: %v", i, err)
		}
	}
	got := recentLog(t, s, logKey, 2*store.LogCap)
	if len(got) != store.LogCap {
		t.Fatalf("RecentLog after %d pushes holds %d entries, want %d", pushed, len(got), store.LogCap)
	}
	if first, last := got[0].Cause, got[len(got)-1].Cause; first != fmt.Sprint(pushed-1) || last != "5" {
		t.Errorf("RecentLog spans causes %q..%q, want %q..%q", first, last, fmt.Sprint(pushed-1), "5")
	}
}

// testLogScanDelete checks that Scan lists a log key and Delete removes it.
func testLogScanDelete(t *testing.T, s store.Store, prefix string) {
	ctx := context.Background()
	logKey := prefix + "log:db"
	if err := s.BumpAndLog(ctx, keys(prefix, "t:a"), logKey, logAt(1, "c", "a")); err != nil {
		t.Fatalf("BumpAndLog: %v", err)
	}
	if got := scanAll(t, s, prefix+"log:"); !got[logKey] {
		t.Errorf("Scan(%q) = %v, want it to list %q", prefix+"log:", got, logKey)
	}
	if err := s.Delete(ctx, logKey); err != nil {
		t.Fatalf("Delete(%q): %v", logKey, err)
	}
	if got := recentLog(t, s, logKey, 5); len(got) != 0 {
		t.Errorf("RecentLog after Delete = %+v, want none", got)
	}
}
