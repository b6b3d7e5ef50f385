// Package testenv connects tests to real Redis and PostgreSQL servers and
// injects network faults between them and the code under test.
//
// Addresses come from environment variables (CACHEDSQL_TEST_REDIS,
// CACHEDSQL_TEST_PG) with loopback defaults. When nothing answers there and
// the server binaries are installed, a throwaway server is started once per
// test process; a package that wants those servers stopped at exit calls
// [Main] from its TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// When no server can be found, tests are skipped with a message saying how to
// start one, except in CI (CI=true), where they fail instead.
//
// Each test gets its own Redis key prefix ([Prefix]) and PostgreSQL schema
// ([Postgres]), so tests using them may call t.Parallel.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds the wait for a server this package starts to answer, and for a throwaway Redis
// Cluster to form (redis-cli --cluster create polls once a second; three test binaries may be forming
// clusters at once on a loaded 2-core host, where 10s was seen to run out). It bounds the harness, not
// anything the library does.
const startTimeout = 60 * time.Second

// probeTimeout bounds a single reachability check of a server.
const probeTimeout = 2 * time.Second

// InCI reports whether the CI environment variable is true ("true", "1", ...
// as strconv.ParseBool reads it). In CI a missing server fails a test instead
// of skipping it.
func InCI() bool {
	ok, _ := strconv.ParseBool(os.Getenv("CI"))
	return ok
}

// Main runs the tests of m, stops every throwaway server this process started
// and exits with the tests' status. Call it from TestMain; without it, a
// throwaway PostgreSQL cluster outlives the test process (a throwaway Redis
// is killed when the process exits).
func Main(m *testing.M) {
	code := m.Run()
	stopAll()
	os.Exit(code)
}

// stoppers holds the functions that stop the process-wide throwaway servers.
var stoppers struct {
	mu  sync.Mutex // guards fns
	fns []func()
}

// atExit registers fn to be run by [Main] after the tests.
func atExit(fn func()) {
	stoppers.mu.Lock()
	defer stoppers.mu.Unlock()
	stoppers.fns = append(stoppers.fns, fn)
}

// stopAll runs the registered stop functions, newest first.
func stopAll() {
	stoppers.mu.Lock()
	fns := stoppers.fns
	stoppers.fns = nil
	stoppers.mu.Unlock()
	for _, fn := range slices.Backward(fns) {
		fn()
	}
}

// skipOrFail skips t with msg, or fails it when running in CI.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatal(msg + " (CI=true: failing instead of skipping)")
	}
	t.Skip(msg)
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// poll calls ready every few milliseconds until it returns nil, exited is
// closed, or timeout passes. It returns the last error from ready.
func poll(timeout time.Duration, exited <-chan struct{}, ready func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("testenv: server exited: %w", err)
		case <-deadline.C:
			return fmt.Errorf("testenv: not ready after %v: %w", timeout, err)
		case <-tick.C:
		}
	}
}
