package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Attempt is one run of a test body under [Attempts]. It is the test's testing.TB, except that its
// failures are kept until the attempt is judged.
type Attempt struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	msgs    []string
	skipped string
	checks  []func() string
}

// Inconclusive registers a check run when the attempt has failed: a non-empty answer says why the
// failure says nothing (for example "2 store errors": a store round trip exceeded its timeout on a
// loaded host, so counts of hits and misses were decided by timing), and the body is run again.
func (a *Attempt) Inconclusive(check func() string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks = append(a.checks, check)
}

func (a *Attempt) fail(msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failed = true
	if msg != "" {
		a.msgs = append(a.msgs, strings.TrimSuffix(msg, "\n"))
	}
}

func (a *Attempt) Error(args ...any)                 { a.fail(fmt.Sprintln(args...)) }
func (a *Attempt) Errorf(format string, args ...any) { a.fail(fmt.Sprintf(format, args...)) }
func (a *Attempt) Fail()                             { a.fail("") }
func (a *Attempt) FailNow()                          { a.fail(""); runtime.Goexit() }
func (a *Attempt) Fatal(args ...any)                 { a.Error(args...); runtime.Goexit() }
func (a *Attempt) Fatalf(format string, args ...any) { a.Errorf(format, args...); runtime.Goexit() }
func (a *Attempt) Skip(args ...any)                  { a.skip(fmt.Sprintln(args...)) }
func (a *Attempt) Skipf(format string, args ...any)  { a.skip(fmt.Sprintf(format, args...)) }
func (a *Attempt) SkipNow()                          { a.skip("skipped") }

func (a *Attempt) skip(msg string) {
	a.mu.Lock()
	a.skipped = msg
	a.mu.Unlock()
	runtime.Goexit()
}

func (a *Attempt) Failed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

// inconclusive returns why a failed attempt says nothing, or "".
func (a *Attempt) inconclusive() string {
	a.mu.Lock()
	checks := a.checks
	a.mu.Unlock()
	var why []string
	for _, c := range checks {
		if w := c(); w != "" {
			why = append(why, w)
		}
	}
	return strings.Join(why, "; ")
}

// Attempts runs body up to n times, until an attempt passes or fails conclusively: an attempt that
// fails while one of its Inconclusive checks answers is logged and run again; the last attempt's
// failures are t's. It is for tests that count what the defaults' time bounds decide on a loaded host
// (a store round trip over StoreTimeout turns a hit into a bypass); a failure without such a cause is
// reported at once. Each attempt should use resources of its own (Prefix, Postgres give fresh ones).
func Attempts(t *testing.T, n int, body func(a *Attempt)) {
	t.Helper()
	for i := 1; ; i++ {
		a := &Attempt{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			body(a)
		}()
		<-done
		if a.skipped != "" {
			t.Skip(a.skipped)
		}
		if !a.Failed() {
			return
		}
		why := a.inconclusive()
		if why != "" && i < n {
			t.Logf("attempt %d of %d inconclusive (%s): %s", i, n, why, strings.Join(a.msgs, " | "))
			continue
		}
		if why != "" {
			t.Logf("attempt %d of %d inconclusive too (%s)", i, n, why)
		}
		for _, m := range a.msgs {
			t.Error(m)
		}
		t.FailNow()
	}
}
