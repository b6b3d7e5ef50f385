package lockstore_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachedsql/cachedsql/lockstore"
)

// The tests run in testing/synctest bubbles: synctest.Wait returns once every
// caller is either inside fn or blocked waiting for its flight, which is how
// a test knows all callers have joined before it lets fn end.

// loader is an fn whose runs a test controls: each run counts itself, sends
// its ctx on started and waits for release (or, with untilDone, for its ctx to
// end), then returns v and err, or panics with panicV.
type loader struct {
	started   chan context.Context
	release   chan struct{}
	untilDone bool
	v         any
	err       error
	panicV    any
	runs      atomic.Int32
}

func newLoader(v any) *loader {
	return &loader{started: make(chan context.Context, 100), release: make(chan struct{}), v: v}
}

func (l *loader) fn(ctx context.Context) (any, error) {
	l.runs.Add(1)
	l.started <- ctx
	if l.untilDone {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	<-l.release
	if l.panicV != nil {
		panic(l.panicV)
	}
	return l.v, l.err
}

// result is what one call of Group.Do returned, or the value it panicked with.
type result struct {
	v      any
	leader bool
	err    error
	panicV any
}

// start calls g.Do(ctx, "key", timeout, fn) in a new goroutine and returns a
// channel that gets its result.
func start(ctx context.Context, g *lockstore.Group, timeout time.Duration, fn func(context.Context) (any, error)) <-chan result {
	out := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.panicV = recover()
			out <- r
		}()
		r.v, r.leader, r.err = g.Do(ctx, "key", timeout, fn)
	}()
	return out
}

// startLeader starts a call that must lead a flight of l and returns its
// result channel and fn's ctx.
func startLeader(t *testing.T, ctx context.Context, g *lockstore.Group, l *loader) (<-chan result, context.Context) {
	t.Helper()
	res := start(ctx, g, 0, l.fn)
	return res, <-l.started
}

// startWaiters starts n calls and waits until each has joined the flight in
// progress (or, with NoDedup, entered fn).
func startWaiters(ctx context.Context, g *lockstore.Group, n int, fn func(context.Context) (any, error)) []<-chan result {
	out := make([]<-chan result, n)
	for i := range out {
		out[i] = start(ctx, g, 0, fn)
	}
	synctest.Wait()
	return out
}

// checkNoLeak fails t if a goroutine of its synctest bubble is still inside
// a Group method once the bubble has settled. Call it only in a bubble.
func checkNoLeak(t *testing.T) {
	t.Helper()
	synctest.Wait() // goroutines that are about to exit do
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "lockstore.(*Group)") {
			n++
		}
	}
	if n != 0 {
		t.Errorf("%d goroutines left in Group methods, want 0:\n%s", n, buf)
	}
}

func TestGroupDedup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		var g lockstore.Group
		l := newLoader("bar")
		first, _ := startLeader(t, t.Context(), &g, l)
		results := append(startWaiters(t.Context(), &g, n-1, l.fn), first)
		close(l.release)
		leaders := 0
		for i, ch := range results {
			r := <-ch
			if r.v != "bar" || r.err != nil || r.leader != (i == n-1) {
				t.Errorf("Do of caller %d = %v, %v, %v; want bar, %v, nil", i, r.v, r.leader, r.err, i == n-1)
			}
			if r.leader {
				leaders++
			}
		}
		if got := l.runs.Load(); got != 1 {
			t.Errorf("fn ran %d times for %d concurrent callers, want 1", got, n)
		}
		if leaders != 1 {
			t.Errorf("%d callers reported leader, want 1", leaders)
		}
	})
}

func TestGroupAlone(t *testing.T) {
	var g lockstore.Group
	v, leader, err := g.Do(ctx(t), "key", time.Minute, func(context.Context) (any, error) { return 1, nil })
	if v != 1 || !leader || err != nil {
		t.Errorf("Do alone = %v, %v, %v; want 1, true, nil", v, leader, err)
	}
}

// TestGroupLeaderDeadlineAlone checks that a leader without waiters keeps
// its own deadline: fn's ctx ends with it.
func TestGroupLeaderDeadlineAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g lockstore.Group
		caller, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		begin := time.Now()
		var fnErr error
		_, leader, err := g.Do(caller, "key", time.Hour, func(ctx context.Context) (any, error) {
			<-ctx.Done()
			fnErr = ctx.Err()
			return nil, fnErr
		})
		if !errors.Is(fnErr, context.Canceled) {
			t.Errorf("fn's ctx.Err() = %v, want context.Canceled", fnErr)
		}
		if !leader || !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v, %v; want true, context.Canceled (fn's error)", leader, err)
		}
		if took := time.Since(begin); took != time.Minute {
			t.Errorf("fn's ctx ended after %v, want the leader's deadline %v", took, time.Minute)
		}
		checkNoLeak(t)
	})
}

// TestGroupLeaderGoneWaiterStays cancels the leader's ctx while a waiter
// waits: the load goes on for the waiter, and the leader still returns only
// once fn has returned.
func TestGroupLeaderGoneWaiterStays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g lockstore.Group
		l := newLoader("v")
		caller, cancel := context.WithCancel(t.Context())
		leaderRes, fctx := startLeader(t, caller, &g, l)
		waiter := startWaiters(t.Context(), &g, 1, l.fn)[0]
		cancel()
		synctest.Wait()
		if err := fctx.Err(); err != nil {
			t.Errorf("fn's ctx.Err() after the leader's ctx ended with a waiter left = %v, want nil", err)
		}
		select {
		case r := <-leaderRes:
			t.Fatalf("leader returned %v, %v before fn did", r.v, r.err)
		default:
		}
		close(l.release)
		if r := <-waiter; r.v != "v" || r.leader || r.err != nil {
			t.Errorf("waiter's Do = %v, %v, %v; want v, false, nil", r.v, r.leader, r.err)
		}
		if r := <-leaderRes; r.v != "v" || !r.leader || r.err != nil {
			t.Errorf("leader's Do = %v, %v, %v; want v, true, nil", r.v, r.leader, r.err)
		}
		checkNoLeak(t)
	})
}

// TestGroupAllCallersGone checks that fn's ctx is cancelled once the leader
// and every waiter have given up, in either order, and that the next call
// starts a new flight while the old fn is still running.
func TestGroupAllCallersGone(t *testing.T) {
	tests := []struct {
		name        string
		leaderFirst bool
	}{
		{"leader then waiter", true},
		{"waiter then leader", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var g lockstore.Group
				l := newLoader("v")
				leaderCtx, leaderGone := context.WithCancel(t.Context())
				waiterCtx, waiterGone := context.WithCancel(t.Context())
				leaderRes, fctx := startLeader(t, leaderCtx, &g, l)
				waiter := startWaiters(waiterCtx, &g, 1, l.fn)[0]
				first, second := leaderGone, waiterGone
				if !tt.leaderFirst {
					first, second = waiterGone, leaderGone
				}
				first()
				synctest.Wait()
				if err := fctx.Err(); err != nil {
					t.Fatalf("fn's ctx.Err() with one caller left = %v, want nil", err)
				}
				second()
				synctest.Wait()
				if err := fctx.Err(); !errors.Is(err, context.Canceled) {
					t.Errorf("fn's ctx.Err() with every caller gone = %v, want context.Canceled", err)
				}
				if r := <-waiter; r.v != nil || !errors.Is(r.err, context.Canceled) {
					t.Errorf("waiter's Do = %v, %v; want nil, context.Canceled", r.v, r.err)
				}

				next := start(t.Context(), &g, 0, l.fn)
				if nctx := <-l.started; nctx.Err() != nil {
					t.Errorf("new flight's ctx.Err() = %v, want nil", nctx.Err())
				}
				close(l.release)
				if r := <-next; r.v != "v" || !r.leader || r.err != nil {
					t.Errorf("Do after the flight was abandoned = %v, %v, %v; want v, true, nil", r.v, r.leader, r.err)
				}
				if r := <-leaderRes; !r.leader {
					t.Errorf("first leader's Do reported leader = false, want true")
				}
				if got := l.runs.Load(); got != 2 {
					t.Errorf("fn ran %d times, want 2 (a new flight after the abandoned one)", got)
				}
				checkNoLeak(t)
			})
		})
	}
}

// TestGroupWaiterGivesUp checks that a waiter whose ctx ends returns at once,
// alone, and leaves the load running for the leader.
func TestGroupWaiterGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g lockstore.Group
		l := newLoader("v")
		leaderRes, fctx := startLeader(t, t.Context(), &g, l)
		waiterCtx, giveUp := context.WithCancel(t.Context())
		waiter := startWaiters(waiterCtx, &g, 1, l.fn)[0]
		giveUp()
		if r := <-waiter; r.v != nil || r.leader || !errors.Is(r.err, context.Canceled) {
			t.Errorf("Do of the waiter that gave up = %v, %v, %v; want nil, false, context.Canceled", r.v, r.leader, r.err)
		}
		if err := fctx.Err(); err != nil {
			t.Errorf("fn's ctx.Err() after a waiter gave up = %v, want nil", err)
		}
		close(l.release)
		if r := <-leaderRes; r.v != "v" || !r.leader || r.err != nil {
			t.Errorf("leader's Do = %v, %v, %v; want v, true, nil", r.v, r.leader, r.err)
		}
		checkNoLeak(t)
	})
}

func TestGroupCancelledBeforeStart(t *testing.T) {
	tests := []struct {
		name     string
		inFlight bool // another call for the key is in flight
	}{
		{"alone", false},
		{"flight in progress", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var g lockstore.Group
				l := newLoader("v")
				var leaderRes <-chan result
				if tt.inFlight {
					leaderRes, _ = startLeader(t, t.Context(), &g, l)
				}
				done, cancel := context.WithCancel(t.Context())
				cancel()
				called := false
				v, leader, err := g.Do(done, "key", time.Minute, func(context.Context) (any, error) {
					called = true
					return "mine", nil
				})
				if v != nil || leader || !errors.Is(err, context.Canceled) || called {
					t.Errorf("Do(cancelled ctx) = %v, %v, %v with fn called %v; want nil, false, context.Canceled, not called",
						v, leader, err, called)
				}
				close(l.release)
				if tt.inFlight {
					if r := <-leaderRes; r.v != "v" || r.err != nil {
						t.Errorf("leader's Do = %v, %v; want v, nil", r.v, r.err)
					}
				}
			})
		})
	}
}

type ctxKey struct{}

func TestGroupDetachedContext(t *testing.T) {
	tests := []struct {
		name         string
		timeout      time.Duration
		wantDeadline bool
	}{
		{"with timeout", time.Hour, true},
		{"no timeout", 0, false},
		{"negative timeout", -time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g lockstore.Group
			caller, cancel := context.WithTimeout(context.WithValue(ctx(t), ctxKey{}, "carried"), time.Minute)
			defer cancel()
			callerDeadline, _ := caller.Deadline()
			_, _, err := g.Do(caller, "key", tt.timeout, func(ctx context.Context) (any, error) {
				if got := ctx.Value(ctxKey{}); got != "carried" {
					t.Errorf("fn's ctx value = %v, want carried (from the leader)", got)
				}
				d, ok := ctx.Deadline()
				if ok != tt.wantDeadline || d.Equal(callerDeadline) {
					t.Errorf("fn's ctx deadline = %v, %v; want own deadline %v, not the leader's %v",
						d, ok, tt.wantDeadline, callerDeadline)
				}
				return nil, nil
			})
			if err != nil {
				t.Fatalf("Do = %v, want nil", err)
			}
		})
	}
}

// TestGroupTimeout runs a load that only ends by its timeout: the leader and
// the waiter get the deadline error once the timeout has passed.
func TestGroupTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g lockstore.Group
		l := newLoader(nil)
		l.untilDone = true
		const timeout = 5 * time.Second
		begin := time.Now()
		leaderRes := start(t.Context(), &g, timeout, l.fn)
		<-l.started
		waiter := startWaiters(t.Context(), &g, 1, l.fn)[0]
		for _, ch := range []<-chan result{leaderRes, waiter} {
			if r := <-ch; !errors.Is(r.err, context.DeadlineExceeded) {
				t.Errorf("Do with a load past its timeout = %v, want context.DeadlineExceeded", r.err)
			}
		}
		if took := time.Since(begin); took != timeout {
			t.Errorf("Do returned after %v, want the timeout %v", took, timeout)
		}
		checkNoLeak(t)
	})
}

func TestGroupError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 5
		var g lockstore.Group
		l := newLoader(nil)
		l.err = errors.New("load failed")
		leaderRes, _ := startLeader(t, t.Context(), &g, l)
		results := append(startWaiters(t.Context(), &g, n-1, l.fn), leaderRes)
		close(l.release)
		for _, ch := range results {
			if r := <-ch; !errors.Is(r.err, l.err) || r.v != nil {
				t.Errorf("Do = %v, %v; want nil, %v", r.v, r.err, l.err)
			}
		}
	})
}

func TestGroupPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 5
		var g lockstore.Group
		l := newLoader(nil)
		l.panicV = errors.New("boom")
		leaderRes, _ := startLeader(t, t.Context(), &g, l)
		results := append(startWaiters(t.Context(), &g, n-1, l.fn), leaderRes)
		close(l.release)
		for i, ch := range results {
			if r := <-ch; r.panicV != l.panicV {
				t.Errorf("caller %d recovered %v, want the original panic value %v", i, r.panicV, l.panicV)
			}
		}

		v, _, err := g.Do(t.Context(), "key", time.Minute, func(context.Context) (any, error) { return "ok", nil })
		if v != "ok" || err != nil {
			t.Errorf("Do after a panicked flight = %v, %v; want ok, nil", v, err)
		}
		checkNoLeak(t)
	})
}

// TestGroupGoexit checks that the waiters of a load that calls
// runtime.Goexit get an error instead of waiting forever.
func TestGroupGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g lockstore.Group
		release := make(chan struct{})
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			_, _, _ = g.Do(t.Context(), "key", 0, func(context.Context) (any, error) {
				<-release
				runtime.Goexit()
				return nil, nil
			})
			t.Error("Do returned after fn called runtime.Goexit")
		}()
		synctest.Wait()
		waiter := startWaiters(t.Context(), &g, 1, nil)[0]
		close(release)
		<-exited
		if r := <-waiter; r.err == nil || r.panicV != nil {
			t.Errorf("waiter's Do = %v, panic %v; want an error", r.err, r.panicV)
		}
	})
}

func TestGroupNoDedup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 5
		g := &lockstore.Group{NoDedup: true}
		l := newLoader("v")
		results := startWaiters(t.Context(), g, n, l.fn) // all in fn at once: none shares another's load
		if got := l.runs.Load(); got != n {
			t.Errorf("fn runs in progress = %d for %d callers, want %d", got, n, n)
		}
		close(l.release)
		for _, ch := range results {
			if r := <-ch; r.v != "v" || !r.leader || r.err != nil {
				t.Errorf("Do = %v, %v, %v; want v, true, nil", r.v, r.leader, r.err)
			}
		}
	})
}

// TestGroupNoLeak runs flights that end every way they can and checks that
// the goroutine count comes back to where it was: Do starts no goroutine
// that outlives it.
func TestGroupNoLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := runtime.NumGoroutine()
		var g lockstore.Group
		for range 10 {
			l := newLoader("v")
			leaderCtx, leaderGone := context.WithCancel(t.Context())
			leaderRes := start(leaderCtx, &g, time.Hour, l.fn)
			<-l.started
			quitterCtx, quit := context.WithCancel(t.Context())
			quitter := start(quitterCtx, &g, 0, l.fn)
			stayer := start(t.Context(), &g, 0, l.fn)
			synctest.Wait()
			quit()
			leaderGone()
			<-quitter
			close(l.release)
			<-leaderRes
			<-stayer
		}
		l := newLoader(nil)
		l.panicV = "boom"
		leaderRes := start(t.Context(), &g, 0, l.fn)
		<-l.started
		waiter := startWaiters(t.Context(), &g, 1, l.fn)[0]
		close(l.release)
		<-leaderRes
		<-waiter
		checkNoLeak(t)
		// Goroutines outside the bubble, of earlier tests, may end meanwhile.
		if after := runtime.NumGoroutine(); after > before {
			t.Errorf("goroutines after the flights = %d, want at most %d as before", after, before)
		}
	})
}

// groupSink keeps the benchmark's result alive.
var groupSink any

func BenchmarkGroupDo(b *testing.B) {
	fn := func(context.Context) (any, error) { return 1, nil }
	cancellable, cancel := context.WithCancel(b.Context())
	defer cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		timeout time.Duration
	}{
		{"background", context.Background(), 0},
		{"cancellable", cancellable, 0},
		{"cancellable+timeout", cancellable, time.Minute},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			var g lockstore.Group
			b.ReportAllocs()
			for b.Loop() {
				groupSink, _, _ = g.Do(tt.ctx, "key", tt.timeout, fn)
			}
		})
	}
}
