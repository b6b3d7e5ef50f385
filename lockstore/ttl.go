package lockstore

import "time"

// Bounds and multiplier of [LeaseTTL].
const (
	// LeaseTTLFactor multiplies the measured fill time. Query times have
	// long tails: a fill that took t typically takes up to two or three
	// times t at p99 under load, and a lease that expires mid-fill only
	// lets a second filler in, so three times is enough and need not be
	// more.
	LeaseTTLFactor = 3
	// DefaultLeaseFloor is the shortest lease: a fill also pays store
	// round trips, encoding and the odd GC pause or scheduling delay, which
	// a fast query's measured time does not show.
	DefaultLeaseFloor = time.Second
	// DefaultLeaseCap is the longest lease. A crashed filler's lease
	// lives on until it expires, and meanwhile every miss on its key waits
	// its bounded lock wait before querying the database itself; the cap
	// bounds that degraded spell. Fills slower than cap/3 should not rely
	// on the lease to be alone.
	DefaultLeaseCap = 30 * time.Second
)

// LeaseTTL returns the TTL of a fill lease for a rule whose fills have been
// measured to take measured: max(floor, min(ceiling, 3·measured)), see
// [LeaseTTLFactor]. A measured time of zero or less (nothing measured yet)
// gives floor. A floor of zero or less means [DefaultLeaseFloor], a ceiling
// of zero or less means [DefaultLeaseCap]; a ceiling below floor gives floor.
func LeaseTTL(measured, floor, ceiling time.Duration) time.Duration {
	if floor <= 0 {
		floor = DefaultLeaseFloor
	}
	if ceiling <= 0 {
		ceiling = DefaultLeaseCap
	}
	ttl := ceiling
	if measured <= ceiling/LeaseTTLFactor { // no overflow
		ttl = LeaseTTLFactor * measured
	}
	return max(floor, ttl)
}
