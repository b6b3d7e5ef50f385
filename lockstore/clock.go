package lockstore

import "time"

// Clock is the time that [Memory]'s leases expire by, that [Redis] dates a [Lease.Expires] by, and that
// [Poll] waits on. Nil wherever a Clock is taken means the system clock ([time.Now] and
// [time.NewTimer]); tests inject a fake one that fires its timers when they move it.
// Implementations are safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer starts a timer that sends the time on the returned channel once d has passed (at once
	// when d <= 0), and returns a function that stops it; stop reports whether it prevented the send,
	// as [time.Timer.Stop] does.
	NewTimer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

// systemClock is the Clock that nil stands for.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// orSystem returns c, or the system clock when c is nil.
func orSystem(c Clock) Clock {
	if c == nil {
		return systemClock{}
	}
	return c
}
