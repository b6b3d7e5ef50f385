package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

// hm is a hot member with its score.
func hm(member string, score float64) store.HotMember {
	return store.HotMember{Member: member, Score: score}
}

func addHot(t *testing.T, s store.Store, key string, hits map[string]float64, decay float64, ttl time.Duration) {
	t.Helper()
	if err := s.AddHot(context.Background(), key, hits, decay, ttl); err != nil {
		t.Fatalf("AddHot(%q, %v): %v", key, hits, err)
	}
}

func topHot(t *testing.T, s store.Store, key string, n int) []store.HotMember {
	t.Helper()
	got, err := s.TopHot(context.Background(), key, n)
	if err != nil {
		t.Fatalf("TopHot(%q, %d): %v", key, n, err)
	}
	return got
}

// testHotDecay feeds a hot set three times and checks the scores after each
// feed: decayed, incremented, members below 1 dropped, highest first.
func testHotDecay(t *testing.T, s store.Store, prefix string) {
	key := prefix + "h:rule"
	steps := []struct {
		name  string
		hits  map[string]float64
		decay float64
		want  []store.HotMember
	}{
		{"first feed", map[string]float64{"a": 4, "b": 1.5, "c": 10, "d": 0.5}, 0.5,
			[]store.HotMember{hm("c", 10), hm("a", 4), hm("b", 1.5)}},
		{"decay and increment", map[string]float64{"a": 1}, 0.5,
			[]store.HotMember{hm("c", 5), hm("a", 3)}},
		{"no hits", nil, 0.25,
			[]store.HotMember{hm("c", 1.25)}},
		{"decayed out", map[string]float64{}, 0.5, []store.HotMember{}},
	}
	for _, st := range steps {
		addHot(t, s, key, st.hits, st.decay, time.Hour)
		if got := topHot(t, s, key, 10); !slices.Equal(got, st.want) && len(got)+len(st.want) > 0 {
			t.Errorf("%s: TopHot = %v, want %v", st.name, got, st.want)
		}
	}
}

// testHotTop checks the order and the limit of TopHot.
func testHotTop(t *testing.T, s store.Store, prefix string) {
	key := prefix + "h:rule"
	addHot(t, s, key, map[string]float64{"x": 2, "y": 8, "z": 4, "w": 4}, 1, time.Hour)
	tests := []struct {
		n    int
		want []store.HotMember
	}{
		{0, nil},
		{-1, nil},
		{1, []store.HotMember{hm("y", 8)}},
		{3, []store.HotMember{hm("y", 8), hm("z", 4), hm("w", 4)}},
		{10, []store.HotMember{hm("y", 8), hm("z", 4), hm("w", 4), hm("x", 2)}},
	}
	for _, tt := range tests {
		if got := topHot(t, s, key, tt.n); !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
			t.Errorf("TopHot(n=%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if got := topHot(t, s, prefix+"missing", 10); len(got) != 0 {
		t.Errorf("TopHot of a missing key = %v, want none", got)
	}
}

// testHotTTL checks that AddHot sets the TTL: a set with a short TTL
// disappears (polled up to a deadline), one with a long TTL stays and is
// listed by Scan.
func testHotTTL(t *testing.T, s store.Store, prefix string) {
	long, short := prefix+"h:long", prefix+"h:short"
	addHot(t, s, long, map[string]float64{"m": 1}, 0.5, time.Hour)
	addHot(t, s, short, map[string]float64{"m": 1}, 0.5, 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(topHot(t, s, short, 1)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("hot set with a 20ms TTL still present after 10s")
		}
		<-tick.C
	}
	if got := topHot(t, s, long, 1); len(got) != 1 {
		t.Errorf("hot set with a 1h TTL: TopHot = %v, want one member", got)
	}
	if got := scanAll(t, s, prefix+"h:"); !got[long] || got[short] {
		t.Errorf("Scan of hot sets = %v, want %q and not %q", got, long, short)
	}
}

func testHotBadArgs(t *testing.T, s store.Store, prefix string) {
	tests := []struct {
		name  string
		decay float64
		ttl   time.Duration
	}{
		{"zero ttl", 0.5, 0},
		{"negative ttl", 0.5, -time.Second},
		{"negative decay", -0.5, time.Hour},
		{"decay above 1", 2, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.AddHot(context.Background(), prefix+"h:r", map[string]float64{"m": 1}, tt.decay, tt.ttl)
			if err == nil {
				t.Errorf("AddHot(decay %v, ttl %v): got nil error, want an error", tt.decay, tt.ttl)
			}
		})
	}
}
