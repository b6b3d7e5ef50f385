package lockstore

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Group is an in-process single flight: concurrent calls of [Group.Do] with
// one key share one execution of fn, which runs in the goroutine of the call
// that started it. The zero Group is ready to use and is safe for concurrent
// use; it must not be copied after first use.
type Group struct {
	// NoDedup makes every call lead a flight of its own: fn runs for each
	// call and no result is shared. It is a test hook, to force the
	// interleavings that deduplication would otherwise hide, such as two
	// loads of one key racing. Set it before the first Do and not after.
	NoDedup bool

	// mu guards m and the mutable fields of every call in it.
	mu sync.Mutex
	m  map[string]*call // flights that callers may still join, by key
}

// errGoexit is what the waiters of a flight get when fn called
// runtime.Goexit (as t.FailNow does) instead of returning.
var errGoexit = errors.New("lockstore: load called runtime.Goexit")

// errAbandoned is the cause of the cancellation of fn's context when every
// caller of its flight has given up.
var errAbandoned = errors.New("lockstore: every caller of the load gave up")

// call is one flight: one execution of fn and the callers waiting for it.
type call struct {
	key    string
	ctx    context.Context         // fn's
	cancel context.CancelCauseFunc // ends ctx; called at least once, when fn has returned
	stop   context.CancelFunc      // releases ctx's timer, if any
	done   chan struct{}           // closed when the result below is set

	// Guarded by Group.mu.
	waiters    int  // callers other than the leader still waiting
	leaderGone bool // the leader's ctx is done

	// Set before done is closed, read only after.
	v        any
	err      error
	panicked bool
	pv       any // the panic value when panicked
}

// Do runs fn for key in the calling goroutine, or, when a call for key is in
// flight, waits for its result. leader reports that this caller ran fn (and
// so returns only once fn has returned).
//
// fn runs on a context that keeps the values of the leader's ctx but not its
// cancellation, that ends after timeout (zero or negative: no timeout of its
// own), and that is cancelled as soon as no caller is interested any more:
// the leader's ctx is done and every waiter has given up. So a leader alone
// still honours its own deadline, while one waiter is enough to keep the load
// going for it. Each waiter waits on its own ctx and, when that is done,
// returns ctx.Err() alone. A call for key arriving after its flight was
// cancelled that way starts a new flight. fn's result and error reach every
// waiter; a panic in fn is re-raised with the same value in the leader and in
// every waiter, and the Group stays usable. If fn calls runtime.Goexit, the
// leader's goroutine exits and the waiters get an error. A ctx already done
// when Do is called returns ctx.Err() without joining or starting a flight.
//
// fn should check the cache again before it loads: a caller that missed just
// as another flight for the same key finished and filled the cache starts a
// new flight, which would otherwise load again (the check makes it a hit).
func (g *Group) Do(ctx context.Context, key string, timeout time.Duration, fn func(ctx context.Context) (any, error)) (v any, leader bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	g.mu.Lock()
	if c, ok := g.m[key]; ok && !g.NoDedup {
		c.waiters++
		g.mu.Unlock()
		v, err := g.wait(ctx, c)
		return v, false, err
	}
	c := newCall(ctx, key, timeout)
	if !g.NoDedup {
		if g.m == nil {
			g.m = make(map[string]*call)
		}
		g.m[key] = c
	}
	g.mu.Unlock()
	v, err = g.lead(ctx, c, fn)
	return v, true, err
}

// Waiting returns how many callers are waiting for flights in progress, over
// every key: those that joined a flight rather than leading it. Tests use it
// to know that concurrent callers have all joined before a load goes on.
func (g *Group) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.m {
		n += c.waiters
	}
	return n
}

// newCall returns a flight whose fn runs on a context detached from ctx.
func newCall(ctx context.Context, key string, timeout time.Duration) *call {
	fctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	c := &call{key: key, ctx: fctx, cancel: cancel, stop: func() {}, done: make(chan struct{})}
	if timeout > 0 {
		c.ctx, c.stop = context.WithTimeout(fctx, timeout)
	}
	return c
}

// wait waits for c's result, or until ctx is done.
func (g *Group) wait(ctx context.Context, c *call) (any, error) {
	select {
	case <-c.done:
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		g.abandonLocked(c)
		g.mu.Unlock()
		return nil, ctx.Err()
	}
	if c.panicked {
		panic(c.pv)
	}
	return c.v, c.err
}

// lead runs fn for c in the calling goroutine and hands its outcome to the
// waiters. A panic in fn is recovered and raised again from the deferred
// function, while fn's frames are still on the stack, so the leader's trace
// still shows where it came from.
func (g *Group) lead(ctx context.Context, c *call, fn func(context.Context) (any, error)) (v any, err error) {
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		c.leaderGone = true
		g.abandonLocked(c)
		g.mu.Unlock()
	})
	returned := false
	defer func() {
		stop()
		if !returned {
			// A panic, or runtime.Goexit when recover returns nil.
			if c.pv = recover(); c.pv != nil {
				c.panicked = true
			} else {
				v, err = nil, errGoexit // seen by the leader only under GODEBUG=panicnil=1
				c.err = errGoexit
			}
		}
		g.finish(c)
		if c.panicked {
			panic(c.pv)
		}
	}()
	c.v, c.err = fn(c.ctx)
	returned = true
	return c.v, c.err
}

// abandonLocked cancels c's fn and forgets c, so that the next call for its
// key starts a new flight, when no caller waits for c any more. g.mu must be
// held.
func (g *Group) abandonLocked(c *call) {
	if c.leaderGone && c.waiters == 0 {
		c.cancel(errAbandoned)
		g.forgetLocked(c)
	}
}

// finish publishes c's result to its waiters.
func (g *Group) finish(c *call) {
	g.mu.Lock()
	g.forgetLocked(c)
	g.mu.Unlock()
	c.stop() // fn has returned: release its context
	c.cancel(context.Canceled)
	close(c.done)
}

// forgetLocked removes c from g.m unless a newer flight has taken its key.
// g.mu must be held.
func (g *Group) forgetLocked(c *call) {
	if g.m[c.key] == c {
		delete(g.m, c.key)
	}
}
