package lockstore_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/lockstore"
)

// fixed returns a Rand that always yields r.
func fixed(r float64) func() float64 { return func() float64 { return r } }

// almostOne is the largest value a Rand may return.
const almostOne = 1 - 1e-12

func TestBackoffWait(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		b       lockstore.Backoff
		attempt int
		want    time.Duration
	}{
		{"defaults attempt 0", lockstore.Backoff{Rand: fixed(0)}, 0, lockstore.DefaultMinWait},
		{"defaults grow by 2", lockstore.Backoff{Rand: fixed(0)}, 3, 8 * lockstore.DefaultMinWait},
		{"defaults capped", lockstore.Backoff{Rand: fixed(0)}, 10, lockstore.DefaultMaxWait},
		{"default jitter halves at most", lockstore.Backoff{Rand: fixed(almostOne)}, 0, lockstore.DefaultMinWait / 2},
		{"jitter midway", lockstore.Backoff{Min: 100 * ms, Rand: fixed(0.5)}, 0, 75 * ms},
		{"factor 3", lockstore.Backoff{Min: ms, Max: time.Hour, Factor: 3, Jitter: -1}, 4, 81 * ms},
		{"factor below 1 is constant", lockstore.Backoff{Min: ms, Factor: 0.5, Jitter: -1}, 5, ms},
		{"no jitter ignores rand", lockstore.Backoff{Min: ms, Jitter: -1, Rand: fixed(0.9)}, 1, 2 * ms},
		{"full jitter", lockstore.Backoff{Min: 10 * ms, Jitter: 1, Rand: fixed(0.75)}, 0, 2500 * time.Microsecond},
		{"jitter above 1 is full", lockstore.Backoff{Min: 10 * ms, Jitter: 5, Rand: fixed(0.75)}, 0, 2500 * time.Microsecond},
		{"max below min", lockstore.Backoff{Min: 10 * ms, Max: ms, Jitter: -1}, 3, 10 * ms},
		{"negative attempt", lockstore.Backoff{Min: ms, Jitter: -1}, -4, ms},
		{"huge attempt", lockstore.Backoff{Min: ms, Max: time.Second, Jitter: -1}, 1 << 30, time.Second},
		{"huge factor", lockstore.Backoff{Min: ms, Max: time.Second, Factor: 1e300, Jitter: -1}, 3, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Wait(tt.attempt); got != tt.want {
				t.Errorf("Wait(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

// TestBackoffBounds checks every wait against [base·(1−Jitter), base] with
// random draws, and that the upper bound never shrinks.
func TestBackoffBounds(t *testing.T) {
	src := rand.New(rand.NewPCG(1, 2))
	b := lockstore.Backoff{Min: time.Millisecond, Max: time.Second, Factor: 1.5, Jitter: 0.3, Rand: src.Float64}
	top := b
	top.Jitter = -1
	prev := time.Duration(0)
	for attempt := range 40 {
		base := top.Wait(attempt)
		if base < prev || base > b.Max {
			t.Fatalf("base wait %d = %v after %v, want growing up to %v", attempt, base, prev, b.Max)
		}
		prev = base
		lo := time.Duration(float64(base) * (1 - b.Jitter))
		for range 100 {
			if got := b.Wait(attempt); got < lo || got > base {
				t.Fatalf("Wait(%d) = %v, want within [%v, %v]", attempt, got, lo, base)
			}
		}
	}
	if prev != b.Max {
		t.Errorf("wait after 40 attempts = %v, want the cap %v", prev, b.Max)
	}
}

// steady is a Backoff without jitter: 10ms, 20ms, 40ms, … up to 1s.
var steady = lockstore.Backoff{Min: 10 * time.Millisecond, Max: time.Second, Jitter: -1}

func TestPoll(t *testing.T) {
	errCond := errors.New("cond failed")
	tests := []struct {
		name      string
		maxWait   time.Duration
		trueAt    int   // call on which cond reports true; 0: never
		errAt     int   // call on which cond fails; 0: never
		want      bool  // Poll's result
		wantErr   error // Poll's error
		wantCalls int
		wantTime  time.Duration // fake time Poll took
	}{
		{"true on 3rd try", time.Minute, 3, 0, true, nil, 3, 30 * time.Millisecond},
		{"true at once", time.Minute, 1, 0, true, nil, 1, 0},
		// waits 10, 20, 40, then the 30 left to the deadline, and a last try
		{"timeout", 100 * time.Millisecond, 0, 0, false, nil, 5, 100 * time.Millisecond},
		{"zero wait tries once", 0, 0, 0, false, nil, 1, 0},
		{"cond error", time.Minute, 0, 2, false, errCond, 2, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		for _, clk := range pollClocks {
			t.Run(tt.name+"/"+clk.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					calls := 0
					got, err, took := clk.poll(t, steady, tt.maxWait, func(context.Context) (bool, error) {
						calls++
						if calls == tt.errAt {
							return false, errCond
						}
						return calls == tt.trueAt, nil
					})
					if got != tt.want || !errors.Is(err, tt.wantErr) {
						t.Errorf("Poll = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
					}
					if calls != tt.wantCalls {
						t.Errorf("cond called %d times, want %d", calls, tt.wantCalls)
					}
					if took != tt.wantTime {
						t.Errorf("Poll took %v, want %v", took, tt.wantTime)
					}
				})
			})
		}
	}
}

// pollClock is a clock that Poll runs on in a test's synctest bubble: the system clock (nil), whose
// time the bubble fakes, or a clock.Fake injected through Backoff.Clock.
type pollClock struct {
	name string
	// poll runs lockstore.Poll on the clock and returns its results and the time it took on the clock.
	poll func(t *testing.T, b lockstore.Backoff, maxWait time.Duration, cond func(context.Context) (bool, error)) (bool, error, time.Duration)
}

var pollClocks = []pollClock{
	{"system", func(t *testing.T, b lockstore.Backoff, maxWait time.Duration, cond func(context.Context) (bool, error)) (bool, error, time.Duration) {
		start := time.Now()
		ok, err := lockstore.Poll(t.Context(), b, maxWait, cond)
		return ok, err, time.Since(start)
	}},
	{"fake", func(t *testing.T, b lockstore.Backoff, maxWait time.Duration, cond func(context.Context) (bool, error)) (bool, error, time.Duration) {
		t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		fake := clock.NewFake(t0)
		b.Clock = fake
		start := time.Now()
		type result struct {
			ok  bool
			err error
		}
		done := make(chan result, 1)
		go func() {
			ok, err := lockstore.Poll(t.Context(), b, maxWait, cond)
			done <- result{ok, err}
		}()
		for {
			synctest.Wait() // Poll has returned, or waits on the fake clock
			select {
			case r := <-done:
				if real := time.Since(start); real != 0 {
					t.Errorf("Poll on a fake clock waited %v of the system clock, want none", real)
				}
				return r.ok, r.err, fake.Now().Sub(t0)
			default:
				if !fake.AdvanceToNext() {
					t.Fatalf("Poll blocked with no timer on its clock")
				}
			}
		}
	}},
}

// TestPollCancel cancels a Poll blocked in a long wait and checks that it
// returns at once.
func TestPollCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, cancel := context.WithCancel(t.Context())
		start := time.Now()
		type result struct {
			ok  bool
			err error
		}
		done := make(chan result)
		go func() {
			ok, err := lockstore.Poll(c, lockstore.Backoff{Min: time.Hour, Max: time.Hour}, 2*time.Hour,
				func(context.Context) (bool, error) { return false, nil })
			done <- result{ok, err}
		}()
		synctest.Wait() // Poll is blocked in its first wait
		cancel()
		r := <-done
		if r.ok || !errors.Is(r.err, context.Canceled) {
			t.Errorf("Poll = %v, %v; want false, context.Canceled", r.ok, r.err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("Poll returned %v after cancel, want at once", took)
		}
	})
}

func TestPollCancelledBeforeStart(t *testing.T) {
	c, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	ok, err := lockstore.Poll(c, steady, time.Minute, func(context.Context) (bool, error) {
		called = true
		return true, nil
	})
	if ok || !errors.Is(err, context.Canceled) || called {
		t.Errorf("Poll(cancelled ctx) = %v, %v with cond called %v; want false, context.Canceled, not called",
			ok, err, called)
	}
}
