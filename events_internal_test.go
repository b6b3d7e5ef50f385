package cachedsql

import (
	"testing"

	"github.com/cachedsql/cachedsql/strategies"
)

// TestStrategyEnums checks that the public stale reasons and stampede kinds have the values of the
// strategies' own, which events.go converts by value.
func TestStrategyEnums(t *testing.T) {
	t.Parallel()
	stale := map[strategies.StaleReason]StaleReason{
		strategies.StaleRevalidate: StaleRevalidate,
		strategies.StaleIfError:    StaleIfError,
		strategies.StaleLockWait:   StaleLockWait,
	}
	for s, r := range stale {
		if StaleReason(s) != r {
			t.Errorf("strategies stale reason %d converts to %v, want %v", s, StaleReason(s), r)
		}
	}
	if int(numStaleReasons) != len(stale)+1 {
		t.Errorf("%d public stale reasons, %d in strategies", numStaleReasons-1, len(stale))
	}
	kinds := map[strategies.StampedeKind]StampedeKind{
		strategies.LeaseAcquired:     LeaseAcquired,
		strategies.LeaseContended:    LeaseContended,
		strategies.LeaseWaited:       LeaseWaited,
		strategies.LeaseWaitTimedOut: LeaseWaitTimedOut,
		strategies.EarlyRecompute:    EarlyRecompute,
		strategies.Refreshed:         Refreshed,
	}
	for k, want := range kinds {
		if StampedeKind(k) != want {
			t.Errorf("strategies stampede kind %d converts to %v, want %v", k, StampedeKind(k), want)
		}
	}
	if len(stampedeNames) != len(kinds) {
		t.Errorf("%d public stampede kinds, %d mapped", len(stampedeNames), len(kinds))
	}
	for _, k := range []strategies.StampedeKind{strategies.LeaseWaitBegan, strategies.SharedLoad} {
		if k <= strategies.Refreshed {
			t.Errorf("internal stampede kind %d is among the public ones", k)
		}
	}
}
