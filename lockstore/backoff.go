package lockstore

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults of [Backoff]'s fields.
const (
	// DefaultMinWait is the first wait: short, since a fill that is
	// nearly done is the common case for a waiter.
	DefaultMinWait = 5 * time.Millisecond
	// DefaultMaxWait caps one wait, so that a waiter notices a finished
	// fill within a fraction of a second even late in a long wait.
	DefaultMaxWait = 250 * time.Millisecond
	// DefaultFactor is the growth of the wait per attempt.
	DefaultFactor = 2.0
	// DefaultJitter is the randomized fraction of each wait ("equal
	// jitter").
	DefaultJitter = 0.5
)

// Backoff yields jittered exponential waits for polling a held lease. The
// zero Backoff uses all the defaults. A Backoff is a value and safe for
// concurrent use if Rand is.
//
// The wait for attempt n is base = min(Max, Min·Factorⁿ), of which the
// fraction Jitter is randomized: a wait lies in [base·(1−Jitter), base]. The
// default, Jitter 0.5, is "equal jitter" rather than "full jitter" (Jitter 1,
// a wait anywhere in [0, base]): full jitter spreads retries best when many
// clients compete for a resource, but a lease waiter does not compete, it
// only asks whether a fill has ended. Equal jitter keeps a floor under every
// wait, so the polls of hundreds of waiters on one hot key still thin out as
// they back off instead of some re-polling at once, while half of each wait
// is still random enough to keep them from polling in lockstep.
type Backoff struct {
	// Min is the wait before jitter for attempt 0. Zero means
	// [DefaultMinWait].
	Min time.Duration
	// Max caps a wait before jitter. Zero means [DefaultMaxWait]; a Max
	// below Min is raised to Min.
	Max time.Duration
	// Factor multiplies the wait at each attempt. Zero means
	// [DefaultFactor]; values below 1 mean 1 (constant waits).
	Factor float64
	// Jitter is the fraction of each wait that is random, in [0, 1]. Zero
	// means [DefaultJitter]; negative disables jitter; above 1 means 1.
	Jitter float64
	// Rand returns a number in [0, 1). Nil means math/rand/v2's Float64.
	// Tests inject a fixed source.
	Rand func() float64
	// Clock is what [Poll] waits on and measures its maxWait by. Nil means
	// the system clock; tests inject a fake one.
	Clock Clock
}

// Wait returns the wait after failed attempt attempt, counting from 0; a
// negative attempt counts as 0.
func (b Backoff) Wait(attempt int) time.Duration {
	lo, hi, factor, jitter := b.params()
	base := float64(hi)
	if attempt <= 0 {
		base = float64(lo)
	} else if d := float64(lo) * math.Pow(factor, float64(attempt)); d < base {
		base = d // also false for +Inf and NaN, which keep Max
	}
	if jitter == 0 {
		return time.Duration(base)
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration(base * (1 - jitter*r()))
}

// params returns b's fields with the defaults and bounds applied.
func (b Backoff) params() (lo, hi time.Duration, factor, jitter float64) {
	lo, hi, factor, jitter = b.Min, b.Max, b.Factor, b.Jitter
	if lo <= 0 {
		lo = DefaultMinWait
	}
	if hi <= 0 {
		hi = DefaultMaxWait
	}
	hi = max(hi, lo)
	if factor == 0 {
		factor = DefaultFactor
	}
	factor = max(factor, 1)
	switch {
	case jitter == 0:
		jitter = DefaultJitter
	case jitter < 0:
		jitter = 0
	}
	return lo, hi, factor, min(jitter, 1)
}

// Poll calls cond until it reports true, waiting b.Wait(n) after the nth
// false, for at most maxWait in all. It returns (true, nil) when cond held,
// (false, nil) when maxWait passed first, (false, ctx.Err()) when ctx ended
// first, and (false, err) when cond returned an error err, which ends the
// wait. cond runs once more at the deadline (a fill may just have ended), so
// a maxWait of zero or less calls it exactly once.
//
// Poll waits on timers of b.Clock, so cancellation ends it at once, and its
// deadline follows that clock: a test moves a fake clock rather than
// sleeping.
func Poll(ctx context.Context, b Backoff, maxWait time.Duration, cond func(ctx context.Context) (bool, error)) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	clk := orSystem(b.Clock)
	deadline := clk.Now().Add(maxWait)
	for attempt := 0; ; attempt++ {
		ok, err := cond(ctx)
		if ok || err != nil {
			return ok, err
		}
		left := deadline.Sub(clk.Now())
		if left <= 0 {
			return false, nil
		}
		c, stop := clk.NewTimer(min(b.Wait(attempt), left))
		select {
		case <-ctx.Done():
			stop()
			return false, ctx.Err()
		case <-c:
		}
	}
}
