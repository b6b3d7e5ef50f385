package testenv

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Burn keeps every processor of the machine busy until t ends: it spins
// GOMAXPROCS goroutines doing pointless arithmetic, so that the code under
// test, and any child processes it starts, run on a saturated CPU as on a
// loaded host. The goroutines stop, and Burn's cleanup waits for them, when t
// ends.
func Burn(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() { spin(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// burnSink keeps spin's arithmetic from being optimized away.
var burnSink atomic.Uint64

// spin computes until ctx ends, checking it every few thousand steps.
func spin(ctx context.Context) {
	x := uint64(1)
	for ctx.Err() == nil {
		for range 1 << 14 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	burnSink.Add(x)
}
