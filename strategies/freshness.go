package strategies

import (
	"math"
	"time"
)

// Age classifies a valid cached entry (one whose generation tokens are current) at some instant.
type Age uint8

const (
	// Fresh: before its expiry.
	Fresh Age = iota
	// Early: before its expiry, but XFetch picked this read to recompute it.
	Early
	// Revalidate: past its expiry, inside the stale-while-revalidate window.
	Revalidate
	// Stale: past its expiry and every window but stale-if-error.
	Stale
)

// Freshness is the part of a rule that decides the age of an entry.
type Freshness struct {
	// Beta weighs XFetch; zero or negative turns early recomputation off.
	Beta float64
	// StaleWhileRevalidate is how long past its expiry an entry is served while it is refreshed.
	StaleWhileRevalidate time.Duration
}

// Age returns the age at now of an entry that expires at expires and took delta to compute. rand
// returns a uniform number in [0, 1); it is called only when XFetch applies.
func (f Freshness) Age(now, expires time.Time, delta time.Duration, rand func() float64) Age {
	if now.Before(expires) {
		if f.Beta > 0 && delta > 0 && XFetch(now, expires, delta, f.Beta, rand()) {
			return Early
		}
		return Fresh
	}
	if now.Before(expires.Add(f.StaleWhileRevalidate)) {
		return Revalidate
	}
	return Stale
}

// XFetch is the early-expiration test of Vattani, Chierichetti and Lowenstein (VLDB 2015): recompute
// when now − Δ·β·ln(u) ≥ expiry, where Δ is the measured recompute time and u is uniform in (0, 1).
// −ln(u) is exponentially distributed, so the chance grows smoothly as expiry nears, and with slower
// recomputes. u <= 0 always recomputes.
func XFetch(now, expires time.Time, delta time.Duration, beta, u float64) bool {
	if u <= 0 {
		return true
	}
	gap := time.Duration(float64(delta) * beta * -math.Log(u))
	return !now.Add(gap).Before(expires)
}
