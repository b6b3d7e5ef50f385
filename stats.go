package cachedsql

import (
	"sync/atomic"
)

// Stats is a snapshot of a cache's counters since it was opened.
type Stats struct {
	Hits uint64 // reads served from the cache
	// Misses counts reads under a rule that found no valid entry. Most query the database; those served
	// by another caller's load are also counted in SharedLoads, and a few find the entry filled at the
	// re-check inside the load.
	Misses uint64
	Fills  uint64 // results stored
	// FillsSkipped counts results read on a miss but not stored: too many rows or bytes, an error,
	// abandoned, several result sets, a value the codec cannot reproduce exactly, or empty with skip_empty.
	FillsSkipped uint64
	// Bypasses counts reads that went straight to the database, by reason (see [BypassReason]); a
	// reason that never happened has no entry.
	Bypasses map[BypassReason]uint64
	// Invalidations counts generation tokens replaced (a write to two tables counts two).
	Invalidations uint64
	// PendingInvalidations is the number of tokens waiting for the store to come back.
	PendingInvalidations int
	StoreErrors          uint64 // failed or timed-out store calls
	CorruptEntries       uint64 // entries that could not be decoded (deleted, counted as misses)
	BreakerOpen          bool   // the circuit breaker is open: the store is not being called
	Rules                map[string]RuleStats

	// Stampede control.

	// SharedLoads counts misses served by another caller's load in this process (single flight).
	SharedLoads uint64
	// LeasesAcquired and LeasesContended count fill leases taken, and found held by another filler.
	LeasesAcquired, LeasesContended uint64
	// LeaseWaits counts waits for another filler; LeaseWaitTimeouts those that ended without its fill.
	LeaseWaits, LeaseWaitTimeouts uint64
	// EarlyRecomputes counts hits that XFetch picked to recompute before expiry.
	EarlyRecomputes uint64
	// Refreshes counts background refreshes (stale_while_revalidate and refresh_ahead) that completed.
	Refreshes uint64
	// WriteThroughs counts entries that writes stored before returning (rules with WriteThrough);
	// WriteThroughFailures counts write-through reads that failed, leaving their entries invalidated.
	WriteThroughs, WriteThroughFailures uint64
	// StaleServed counts copies served past their TTL, by reason (see [StaleReason]); a reason that
	// never happened has no entry.
	StaleServed map[StaleReason]uint64
}

// RuleStats are the counters of one rule.
type RuleStats struct {
	Hits, Misses, Fills, Bypasses uint64
}

// HitRatio returns Hits / (Hits + Misses), or 0 before any read.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

type ruleCounters struct {
	hits, misses, fills, bypasses atomic.Uint64
}

type stats struct {
	hits, misses, fills, skipped atomic.Uint64
	invalidations, storeErrors   atomic.Uint64
	corrupt                      atomic.Uint64
	bypasses                     [numBypassReasons]atomic.Uint64

	shared, early, refreshes       atomic.Uint64
	leaseAcquired, leaseContended  atomic.Uint64
	leaseWaited, leaseWaitTimeouts atomic.Uint64

	writeThroughs, writeThroughFailures atomic.Uint64
	stale                               [numStaleReasons]atomic.Uint64
}

func (s *stats) snapshot(e *engine) Stats {
	out := Stats{
		Hits:                 s.hits.Load(),
		Misses:               s.misses.Load(),
		Fills:                s.fills.Load(),
		FillsSkipped:         s.skipped.Load(),
		Invalidations:        s.invalidations.Load(),
		StoreErrors:          s.storeErrors.Load(),
		CorruptEntries:       s.corrupt.Load(),
		PendingInvalidations: e.pending.Count(),
		BreakerOpen:          e.breaker.IsOpen(),
		Bypasses:             make(map[BypassReason]uint64),
		Rules:                make(map[string]RuleStats),
		SharedLoads:          s.shared.Load(),
		LeasesAcquired:       s.leaseAcquired.Load(),
		LeasesContended:      s.leaseContended.Load(),
		LeaseWaits:           s.leaseWaited.Load(),
		LeaseWaitTimeouts:    s.leaseWaitTimeouts.Load(),
		EarlyRecomputes:      s.early.Load(),
		Refreshes:            s.refreshes.Load(),
		WriteThroughs:        s.writeThroughs.Load(),
		WriteThroughFailures: s.writeThroughFailures.Load(),
		StaleServed:          make(map[StaleReason]uint64),
	}
	for i := StaleRevalidate; i < numStaleReasons; i++ {
		if n := s.stale[i].Load(); n > 0 {
			out.StaleServed[i] = n
		}
	}
	for i := BypassNoRule; i < numBypassReasons; i++ {
		if n := s.bypasses[i].Load(); n > 0 {
			out.Bypasses[i] = n
		}
	}
	for name, c := range e.ruleSet().counters {
		out.Rules[name] = RuleStats{
			Hits: c.hits.Load(), Misses: c.misses.Load(), Fills: c.fills.Load(), Bypasses: c.bypasses.Load(),
		}
	}
	return out
}
