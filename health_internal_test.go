package cachedsql

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestBreakerTrialCannotStick (issue 8): the one trial call an open breaker lets through may never
// report back (its caller's context was cancelled). Before the fix the trial stayed taken and the
// breaker stayed open for the life of the process; now the next trial comes one cooldown later.
func TestBreakerTrialCannotStick(t *testing.T) {
	var h health
	h.init(Options{BreakerThreshold: 2, BreakerCooldown: time.Second, MaxPending: 1})
	t0 := time.Unix(1000, 0)
	h.fail(t0, false)
	if h.fail(t0.Add(breakerSpan), false) != true || !h.isOpen() {
		t.Fatal("two failures a second apart did not open the breaker")
	}
	at := t0.Add(breakerSpan + time.Second)
	if !h.allow(at) {
		t.Fatal("no trial after the cooldown")
	}
	if h.allow(at) {
		t.Fatal("two trials at once")
	}
	// The trial's caller gave up without calling ok or fail.
	if h.allow(at.Add(time.Second - 1)) {
		t.Fatal("a second trial before another cooldown")
	}
	if !h.allow(at.Add(time.Second)) {
		t.Fatal("the breaker is stuck open after a trial that never reported back")
	}
	h.ok()
	if h.isOpen() || !h.allow(at.Add(time.Second)) {
		t.Fatal("a successful call did not close the breaker")
	}
}

// TestBreakerIgnoresHiccups (issue 8): a loaded host stalls every call in flight at once; as many
// failures as the threshold within an instant must not open the breaker, only a run lasting breakerSpan.
func TestBreakerIgnoresHiccups(t *testing.T) {
	var h health
	h.init(Options{BreakerThreshold: 5, BreakerCooldown: time.Second, MaxPending: 1})
	t0 := time.Unix(1000, 0)
	for i := range 50 {
		if h.fail(t0.Add(time.Duration(i)*time.Millisecond), false) {
			t.Fatalf("failure %d within 50ms opened the breaker", i+1)
		}
	}
	h.ok()
	for i := range 4 {
		h.fail(t0.Add(time.Duration(i)*breakerSpan/4), false)
	}
	if !h.fail(t0.Add(breakerSpan), false) || !h.isOpen() {
		t.Fatal("failures over a whole second did not open the breaker")
	}
}

// TestBreakerOpensOnRefusal (issue 8): a store that refuses connections is down, not stalled: the first
// refusal opens the breaker, so that later reads do not each wait out StoreTimeout in dial retries.
func TestBreakerOpensOnRefusal(t *testing.T) {
	var h health
	h.init(Options{BreakerThreshold: 5, BreakerCooldown: time.Second, MaxPending: 1})
	err := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if !refused(fmt.Errorf("store: fetch: %w", err)) {
		t.Fatal("a refused dial is not seen as refused")
	}
	if refused(context.DeadlineExceeded) {
		t.Fatal("a timeout is seen as refused")
	}
	if !h.fail(time.Unix(1000, 0), true) || !h.isOpen() {
		t.Fatal("a refusal did not open the breaker")
	}
}

// TestBypassReasonsNamed: every bypass reason has a name (Stats.Bypasses and observers report it).
func TestBypassReasonsNamed(t *testing.T) {
	seen := map[string]bool{}
	for r := range numBypassReasons {
		name := r.String()
		if name == "" || seen[name] {
			t.Errorf("bypass reason %d is named %q (empty or twice)", r, name)
		}
		seen[name] = true
	}
}
