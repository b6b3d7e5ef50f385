package health

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
	t.Parallel()
	var h Breaker
	h.Init(2, time.Second)
	t0 := time.Unix(1000, 0)
	h.Fail(t0, false)
	if h.Fail(t0.Add(Span), false) != true || !h.IsOpen() {
		t.Fatal("two failures a second apart did not open the breaker")
	}
	at := t0.Add(Span + time.Second)
	if !h.Allow(at) {
		t.Fatal("no trial after the cooldown")
	}
	if h.Allow(at) {
		t.Fatal("two trials at once")
	}
	// The trial's caller gave up without calling ok or fail.
	if h.Allow(at.Add(time.Second - 1)) {
		t.Fatal("a second trial before another cooldown")
	}
	if !h.Allow(at.Add(time.Second)) {
		t.Fatal("the breaker is stuck open after a trial that never reported back")
	}
	h.OK()
	if h.IsOpen() || !h.Allow(at.Add(time.Second)) {
		t.Fatal("a successful call did not close the breaker")
	}
}

// TestBreakerIgnoresHiccups (issue 8): a loaded host stalls every call in flight at once; as many
// failures as the threshold within an instant must not open the breaker, only a run lasting Span.
func TestBreakerIgnoresHiccups(t *testing.T) {
	t.Parallel()
	var h Breaker
	h.Init(5, time.Second)
	t0 := time.Unix(1000, 0)
	for i := range 50 {
		if h.Fail(t0.Add(time.Duration(i)*time.Millisecond), false) {
			t.Fatalf("failure %d within 50ms opened the breaker", i+1)
		}
	}
	h.OK()
	for i := range 4 {
		h.Fail(t0.Add(time.Duration(i)*Span/4), false)
	}
	if !h.Fail(t0.Add(Span), false) || !h.IsOpen() {
		t.Fatal("failures over a whole second did not open the breaker")
	}
}

// TestBreakerOpensOnRefusal (issue 8): a store that refuses connections is down, not stalled: the first
// refusal opens the breaker, so that later reads do not each wait out StoreTimeout in dial retries.
func TestBreakerOpensOnRefusal(t *testing.T) {
	t.Parallel()
	var h Breaker
	h.Init(5, time.Second)
	err := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if !Refused(fmt.Errorf("store: fetch: %w", err)) {
		t.Fatal("a refused dial is not seen as refused")
	}
	if Refused(context.DeadlineExceeded) {
		t.Fatal("a timeout is seen as refused")
	}
	if !h.Fail(time.Unix(1000, 0), true) || !h.IsOpen() {
		t.Fatal("a refusal did not open the breaker")
	}
}
