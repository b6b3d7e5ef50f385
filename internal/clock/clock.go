// Package clock abstracts the current time so that code depending on it,
// such as TTL expiry in the in-memory store, can be tested deterministically.
package clock

import (
	"sync"
	"time"
)

// Clock tells the current time. Implementations are safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// System is the [Clock] of the operating system: its Now is [time.Now], so
// durations measured with it use the monotonic clock.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Fake is a [Clock] that moves only when told to, for tests. It is safe for
// concurrent use.
type Fake struct {
	// mu guards now.
	mu  sync.Mutex
	now time.Time
}

var _ Clock = (*Fake)(nil)

// NewFake returns a [Fake] whose current time is t0.
func NewFake(t0 time.Time) *Fake {
	return &Fake{now: t0}
}

// Now returns the fake current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake current time forward by d (backward when d is
// negative) and returns the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	return f.now
}

// Set sets the fake current time to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}
