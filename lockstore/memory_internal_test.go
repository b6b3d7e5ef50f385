package lockstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
)

// The module's one clock is a lockstore Clock.
var _ Clock = clock.Clock(nil)

// TestMemorySweep checks that leases acquired and never released do not
// pile up once expired.
func TestMemorySweep(t *testing.T) {
	fake := clock.NewFake(time.Unix(0, 0))
	m := NewMemory(fake)
	for round := range 20 {
		for i := range 100 {
			key := strconv.Itoa(round) + ":" + strconv.Itoa(i)
			if _, ok, err := m.Acquire(t.Context(), key, time.Second); err != nil || !ok {
				t.Fatalf("Acquire(%s) = ok %v, err %v; want true, nil", key, ok, err)
			}
		}
		fake.Advance(time.Second) // every lease so far has expired
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if got, limit := len(m.leases), 4*100; got > limit {
		t.Errorf("%d leases kept after 20 rounds of 100 expired ones, want at most %d", got, limit)
	}
}
