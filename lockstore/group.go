package lockstore

import (
	"context"
	"time"

	"golang.org/x/sync/singleflight"
)

// Flight runs fn once for concurrent calls with the same key and delivers
// its result on the returned channel, which must have room for the result so
// that a caller who stops listening leaks nothing. *singleflight.Group
// satisfies it; [NoDedup] is the variant that shares nothing, for tests that
// need every caller to run its own load.
//
// The fn that [Group] passes never panics: Group recovers the panic and
// carries it in the error.
type Flight interface {
	DoChan(key string, fn func() (any, error)) <-chan singleflight.Result
}

var (
	_ Flight = (*singleflight.Group)(nil)
	_ Flight = NoDedup{}
)

// NoDedup is a [Flight] that runs fn for every call, concurrently, and never
// shares a result. Give it to a [Group] to force the interleavings that
// deduplication would otherwise hide, such as two loads of one key racing.
type NoDedup struct{}

// DoChan runs fn in a new goroutine and delivers its result, with Shared
// false, on a buffered channel.
func (NoDedup) DoChan(_ string, fn func() (any, error)) <-chan singleflight.Result {
	ch := make(chan singleflight.Result, 1)
	go func() {
		v, err := fn()
		ch <- singleflight.Result{Val: v, Err: err}
	}()
	return ch
}

// Group is an in-process single flight: concurrent calls of [Group.Do] with
// one key share one execution of fn. The zero Group is ready to use and is
// safe for concurrent use; it must not be copied after first use.
type Group struct {
	// Flight deduplicates the calls. Nil means an x/sync singleflight.Group
	// owned by this Group. Set it before the first Do and not after.
	Flight Flight

	sf singleflight.Group
}

// panicked carries a panic of fn, recovered in the flight, to every waiter.
type panicked struct{ value any }

func (*panicked) Error() string { return "lockstore: load panicked" }

// Do runs fn for key, or joins the execution already in flight for key, and
// returns its result. shared reports whether the result went to more than
// one caller (this one included).
//
// fn runs on a context detached from every caller: it carries the values of
// the ctx of the caller that started the flight but none of its deadline or
// cancellation, and it ends after timeout (zero or negative: no timeout of
// its own). Each caller waits on its own ctx: when that is done, Do returns
// ctx.Err() at once and the flight goes on for the others; a later call with
// the same key joins it while it runs. An error from fn reaches every
// waiter; a panic in fn is re-raised, with the same value, in the goroutine
// of every waiter.
//
// fn must not call runtime.Goexit (as t.FailNow does): its waiters would then
// wait until their own ctx is done.
//
// fn should check the cache again before it loads: a caller that missed just
// as another flight for the same key finished and filled the cache starts a
// new flight, which would otherwise load again (the check makes it a hit).
func (g *Group) Do(ctx context.Context, key string, timeout time.Duration, fn func(ctx context.Context) (any, error)) (v any, shared bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err // do not start a flight nobody waits for
	}
	ch := g.flight().DoChan(key, func() (any, error) {
		return run(context.WithoutCancel(ctx), timeout, fn)
	})
	select {
	case <-ctx.Done():
		return nil, false, ctx.Err()
	case r := <-ch:
		if p, ok := r.Err.(*panicked); ok {
			panic(p.value)
		}
		return r.Val, r.Shared, r.Err
	}
}

// flight returns the Flight in use.
func (g *Group) flight() Flight {
	if g.Flight != nil {
		return g.Flight
	}
	return &g.sf
}

// run calls fn on ctx bounded by timeout and turns a panic into a *panicked
// error. singleflight's DoChan cannot pass a panic to its waiters (it crashes
// the process instead), so the panic must not escape this function.
func run(ctx context.Context, timeout time.Duration, fn func(context.Context) (any, error)) (v any, err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, &panicked{value: r}
		}
	}()
	return fn(ctx)
}
