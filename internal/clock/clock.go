// Package clock is the one clock of a cache: what tells the time and what waits. Everything in the
// module that expires or waits by the cache's own decision follows it (entry ages and the in-memory
// store's expiry, fill leases and lease waits, the refresh-ahead scanner, the deliverer's retries), so
// that a test injects a [Fake] once per engine and moves time by hand instead of sleeping.
//
// Timeouts that bound I/O (context deadlines, PostgreSQL's statement_timeout) and the watch's beats,
// which the Redis server times, stay on real time: a fake cannot shorten a network call.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and starts timers. It has the method set of lockstore.Clock, so every Clock is
// one. Implementations are safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer starts a timer that sends the time on the returned channel once d has passed (at once
	// when d <= 0), and returns a function that stops it; stop reports whether it prevented the send,
	// as [time.Timer.Stop] does.
	NewTimer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

// System is the [Clock] of the operating system: [time.Now] and [time.NewTimer]. Durations measured
// with it use the monotonic clock.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Since returns the time c has moved since t.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Fake is a [Clock] that moves only when told to, for tests. Its timers fire when it is moved to or
// past their deadline. It is safe for concurrent use.
type Fake struct {
	// mu guards now and timers.
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer // pending, in no order
}

// fakeTimer is a pending timer of a Fake.
type fakeTimer struct {
	at time.Time
	c  chan time.Time // buffered: firing never blocks
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

// NewTimer implements [Clock.NewTimer]: the timer fires when f is moved to now+d or later.
func (f *Fake) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{at: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- f.now
		return t.c, func() bool { return false }
	}
	f.timers = append(f.timers, t)
	return t.c, func() bool { return f.stop(t) }
}

// stop removes t from the pending timers and reports whether it was pending.
func (f *Fake) stop(t *fakeTimer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.timers {
		if p == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves the fake current time forward by d (backward when d is negative), fires the timers
// due, and returns the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
	return f.now
}

// Set sets the fake current time to t and fires the timers due.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(t)
}

// AdvanceToNext moves the fake current time to the deadline of the earliest pending timer and fires
// every timer due then. It reports false, not moving, when no timer is pending.
func (f *Fake) AdvanceToNext() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.timers) == 0 {
		return false
	}
	next := f.timers[0].at
	for _, t := range f.timers[1:] {
		if t.at.Before(next) {
			next = t.at
		}
	}
	f.setLocked(next)
	return true
}

// Pending returns the number of timers started and neither fired nor stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// setLocked moves the time to t and fires the timers due at t.
func (f *Fake) setLocked(t time.Time) {
	f.now = t
	kept := f.timers[:0]
	for _, p := range f.timers {
		if p.at.After(t) {
			kept = append(kept, p)
			continue
		}
		p.c <- t
	}
	clear(f.timers[len(kept):])
	f.timers = kept
}
