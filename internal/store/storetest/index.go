package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

func setIndexed(t *testing.T, s store.Store, key, index string, ttl, indexTTL time.Duration) {
	t.Helper()
	if err := s.SetIndexed(context.Background(), key, []byte("v-"+key), ttl, index, indexTTL); err != nil {
		t.Fatalf("SetIndexed(%q, %q): %v", key, index, err)
	}
}

func indexMembers(t *testing.T, s store.Store, index string) []string {
	t.Helper()
	got, err := s.IndexMembers(context.Background(), index)
	if err != nil {
		t.Fatalf("IndexMembers(%q): %v", index, err)
	}
	slices.Sort(got)
	return got
}

// testSetIndexed: the value is stored as by Set, each index holds exactly
// the keys written under it (once each), Scan lists the index and Delete
// removes it.
func testSetIndexed(t *testing.T, s store.Store, prefix string) {
	a, b := prefix+"k:a:1", prefix+"k:b:1"
	k1, k2, k3 := prefix+"q:1", prefix+"q:2", prefix+"q:3"
	setIndexed(t, s, k1, a, time.Hour, time.Hour)
	setIndexed(t, s, k2, a, time.Hour, time.Hour)
	setIndexed(t, s, k1, a, time.Hour, time.Hour) // a refill
	setIndexed(t, s, k3, b, time.Hour, time.Hour)

	if v, _ := fetch(t, s, k1); string(v) != "v-"+k1 {
		t.Errorf("Fetch(%q) = %q, want %q", k1, v, "v-"+k1)
	}
	tests := []struct {
		index string
		want  []string
	}{
		{a, []string{k1, k2}},
		{b, []string{k3}},
		{prefix + "k:missing:1", []string{}},
	}
	for _, tt := range tests {
		if got := indexMembers(t, s, tt.index); !slices.Equal(got, tt.want) {
			t.Errorf("IndexMembers(%q) = %q, want %q", tt.index, got, tt.want)
		}
	}
	if got := scanAll(t, s, prefix+"k:"); !got[a] || !got[b] || len(got) != 2 {
		t.Errorf("Scan(%q) = %v, want %q and %q", prefix+"k:", got, a, b)
	}
	if err := s.Delete(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := indexMembers(t, s, a); len(got) != 0 {
		t.Errorf("IndexMembers after Delete = %q, want none", got)
	}
}

// testSetIndexedTTL: an index set expires by its own TTL, whatever its
// members' TTLs, and bad TTLs are rejected.
func testSetIndexedTTL(t *testing.T, s store.Store, prefix string) {
	long, short := prefix+"k:long:1", prefix+"k:short:1"
	setIndexed(t, s, prefix+"q:1", long, time.Hour, time.Hour)
	setIndexed(t, s, prefix+"q:2", short, time.Hour, 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(indexMembers(t, s, short)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("index with a 20ms TTL still present after 10s")
		}
		<-tick.C
	}
	if v, _ := fetch(t, s, prefix+"q:2"); v == nil {
		t.Errorf("entry with a 1h TTL is gone with its index, want it present")
	}
	if got := indexMembers(t, s, long); len(got) != 1 {
		t.Errorf("index with a 1h TTL: IndexMembers = %q, want one member", got)
	}
	ctx := context.Background()
	for _, ttls := range [][2]time.Duration{{0, time.Hour}, {time.Hour, 0}, {-1, -1}} {
		if err := s.SetIndexed(ctx, prefix+"q:bad", []byte("v"), ttls[0], prefix+"k:bad:1", ttls[1]); err == nil {
			t.Errorf("SetIndexed with TTLs %v: no error, want one", ttls)
		}
	}
}
