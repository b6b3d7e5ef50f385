package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
)

// TestJudge: the arithmetic of advise on figures given by hand.
func TestJudge(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	since := now.Add(-100 * time.Second)
	stat := func(calls int64, p50, mean time.Duration) cachedsql.QueryStat {
		return cachedsql.QueryStat{Calls: calls, Queries: calls, DBP50: p50, DBTime: time.Duration(calls) * mean,
			Tables: []string{"t"}, Since: since}
	}
	hit := cost{d: 60 * time.Microsecond}
	tests := []struct {
		name   string
		q      cachedsql.QueryStat
		writes map[string]float64
		cache  bool
		why    string // in the reasons ("" for none)
		maxHit float64
	}{
		{"slow, never written", stat(1000, time.Millisecond, time.Millisecond), nil, true, "", 1},
		{"faster than a hit", stat(1000, 8*time.Microsecond, 9*time.Microsecond), nil, false, "in-process memory store", 1},
		{"faster than a memory hit", stat(1000, 2*time.Microsecond, 2*time.Microsecond), nil, false, "even in process memory", 1},
		{"written as often as read", stat(1000, time.Millisecond, time.Millisecond), map[string]float64{"t": 10}, false, "written too often", 0},
		{"written a fifth as often", stat(1000, time.Millisecond, time.Millisecond), map[string]float64{"t": 2}, true, "written often", 0.8},
		{"the whole database written", stat(1000, time.Millisecond, time.Millisecond), map[string]float64{"*": 8}, false, "the whole database", 0.2},
		// p50 above a hit's cost, but hits would be few: lookups and fills cost more than they save.
		{"barely worth a hit", stat(1000, 70*time.Microsecond, 70*time.Microsecond), map[string]float64{"t": 4}, false, "cost more than the hits save", 0.6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(tt.q, hit, tt.writes, now)
			if v.cache != tt.cache || !strings.Contains(strings.Join(v.reasons, "\n"), tt.why) ||
				v.maxHit < tt.maxHit-1e-9 || v.maxHit > tt.maxHit+1e-9 {
				t.Errorf("judge = cache %v, max hit %.2f, reasons %q; want cache %v, max hit %.2f, a reason with %q",
					v.cache, v.maxHit, v.reasons, tt.cache, tt.maxHit, tt.why)
			}
			if tt.why == "" && len(v.reasons) > 0 {
				t.Errorf("reasons %q, want none", v.reasons)
			}
		})
	}
}

// TestAdviseLongPattern: a statement worth caching whose literals would make too long a regexp gets
// no rule, and advise says why; one with a few literals gets its rule.
func TestAdviseLongPattern(t *testing.T) {
	now := time.Now()
	stat := func(fp, text string) cachedsql.QueryStat {
		return cachedsql.QueryStat{Database: "0123456789abcdef", Fingerprint: fp, Text: text, Calls: 100, Queries: 100,
			DBP50: time.Millisecond, DBTime: 100 * time.Millisecond, Tables: []string{"t"}, Since: now.Add(-time.Minute),
			Bypasses: map[cachedsql.BypassReason]int64{cachedsql.BypassNoRule: 100}}
	}
	long := "select * from t where a = ?" + strings.Repeat(" or a = ?", 40)
	stats := []cachedsql.QueryStat{stat("aa00000000000000", long), stat("bb00000000000000", "select * from t where b = ?")}
	var out strings.Builder
	rules := adviseDatabase(&out, "0123456789abcdef", stats, nil, cost{d: 50 * time.Microsecond, how: "given"}, now)
	if len(rules) != 1 || rules[0].name != "t-bb000000" || !strings.Contains(out.String(), "no rule printed: its literals would make too long a regexp") {
		t.Errorf("rules %+v\n%s\nwant one rule (the short statement's), and a word on the long one", rules, out.String())
	}
}
