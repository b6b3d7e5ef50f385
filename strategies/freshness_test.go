package strategies

import (
	"testing"
	"time"
)

func TestFreshnessAge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	expires := t0.Add(time.Minute)
	never := func() float64 { return 1 } // −ln(1) = 0: XFetch recomputes only at expiry
	always := func() float64 { return 0 }
	for _, tc := range []struct {
		name  string
		f     Freshness
		now   time.Time
		delta time.Duration
		rand  func() float64
		want  Age
	}{
		{"before expiry", Freshness{Beta: 1}, t0, time.Second, never, Fresh},
		{"xfetch picks", Freshness{Beta: 1}, t0, time.Second, always, Early},
		{"xfetch off", Freshness{Beta: 0}, t0, time.Second, always, Fresh},
		{"no measured delta", Freshness{Beta: 1}, t0, 0, always, Fresh},
		{"at expiry", Freshness{}, expires, 0, never, Stale},
		{"inside swr", Freshness{StaleWhileRevalidate: time.Minute}, expires.Add(59 * time.Second), 0, never, Revalidate},
		{"past swr", Freshness{StaleWhileRevalidate: time.Minute}, expires.Add(time.Minute), 0, never, Stale},
	} {
		if got := tc.f.Age(tc.now, expires, tc.delta, tc.rand); got != tc.want {
			t.Errorf("%s: Age = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestXFetch checks the formula: with u = e^-1 the gap is Δ·β, so recomputation starts exactly Δ·β
// before expiry.
func TestXFetch(t *testing.T) {
	expires := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	const u = 0.36787944117144233 // e^-1
	for _, tc := range []struct {
		before time.Duration
		beta   float64
		want   bool
	}{
		{2 * time.Second, 1, false},
		{time.Second - time.Millisecond, 1, true},
		{2*time.Second - time.Millisecond, 2, true},
		{3 * time.Second, 2, false},
	} {
		if got := XFetch(expires.Add(-tc.before), expires, time.Second, tc.beta, u); got != tc.want {
			t.Errorf("%v before expiry, beta %g: %v, want %v", tc.before, tc.beta, got, tc.want)
		}
	}
	if !XFetch(expires.Add(-time.Hour), expires, time.Second, 1, 0) {
		t.Error("u = 0 must recompute")
	}
}
