// Package health keeps the state by which a cache fails open: the read path's circuit breaker
// ([Breaker]) and the generation tokens whose replacement has not reached the store ([Pending]).
// It does no I/O: the engine calls the store and reports here what happened.
package health

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// Span is how long a run of consecutive failures must have lasted before it opens a [Breaker].
// A loaded host stalls every goroutine of a process at once for tens of milliseconds now and then (a
// Redis MGET measured 38 ms at the 99.9th percentile with the CPU saturated), which fails every call
// in flight together: that is a hiccup to absorb, not an outage. A store that is down keeps failing
// for longer than this, and each failed call is bounded by its own timeout meanwhile.
const Span = time.Second

// Breaker is a circuit breaker over a store's calls: after failures lasting [Span] (at least
// threshold of them), or at once on a refused connection, it opens, and then lets one trial call
// through per cooldown until a call succeeds. [Breaker.Init] sets it up. It is safe for concurrent use.
type Breaker struct {
	threshold int32
	cooldown  time.Duration

	// failures counts consecutive store failures and streak (Unix ns) is when the first of them
	// happened. openUntil (Unix ns, 0 = closed) is when an open breaker next lets one trial call
	// through; the caller that moves it one cooldown later is the trial. A trial that never reports
	// back (its caller gave up) so costs one more cooldown, never a breaker stuck open.
	failures  atomic.Int32
	streak    atomic.Int64
	openUntil atomic.Int64
}

// Init sets the number of failures that open the breaker (negative: it never opens) and how long it
// stays open between trials. Call it before any other method.
func (b *Breaker) Init(threshold int, cooldown time.Duration) {
	b.threshold = int32(threshold)
	b.cooldown = cooldown
}

// Cooldown is the time between trials of an open breaker.
func (b *Breaker) Cooldown() time.Duration { return b.cooldown }

// Allow reports whether a call may go to the store at now. An open breaker lets one trial call through
// per cooldown.
func (b *Breaker) Allow(now time.Time) bool {
	if b.threshold < 0 {
		return true
	}
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return b.openUntil.CompareAndSwap(until, now.Add(b.cooldown).UnixNano())
}

// OK records a call that succeeded: it closes the breaker.
func (b *Breaker) OK() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
	}
}

// Fail records a failed call at now and reports whether it opened the breaker. refused says the store
// could not be connected to at all (see [Refused]): that opens the breaker at once, since no stall
// explains it.
func (b *Breaker) Fail(now time.Time, refused bool) bool {
	if b.threshold < 0 {
		return false
	}
	n := b.failures.Add(1)
	if n == 1 {
		b.streak.Store(now.UnixNano())
	}
	if b.openUntil.Load() != 0 {
		return false // open already; the next trial is as scheduled
	}
	if !refused && (n < b.threshold || now.UnixNano()-b.streak.Load() < int64(Span)) {
		return false
	}
	return b.openUntil.CompareAndSwap(0, now.Add(b.cooldown).UnixNano())
}

// IsOpen reports whether the breaker is open.
func (b *Breaker) IsOpen() bool { return b.openUntil.Load() != 0 }

// Refused reports whether err says the store refused the connection: nothing listens at its address.
func Refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && errors.Is(err, syscall.ECONNREFUSED)
}
