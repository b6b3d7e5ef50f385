package testenv

import (
	"os/exec"
	"sync"
	"testing"
)

// Server is a redis-server dedicated to one test, which the test may stop
// and start again on the same port. Its methods are safe for concurrent use;
// Start must be called from the goroutine running the test, since it fails
// the test on error.
type Server struct {
	t    testing.TB
	dir  string
	port int
	addr string

	// mu guards proc; it is held across start and stop so that they do not
	// interleave.
	mu   sync.Mutex
	proc *redisProc // nil while stopped
}

// StartRedis starts a redis-server for t alone on a free loopback port and
// returns it running; it is stopped when t ends. Without the redis-server
// binary it skips t, or fails it when [InCI].
func StartRedis(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipOrFail(t, "testenv: StartRedis needs redis-server in PATH (apt-get install redis-server)")
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, dir: t.TempDir(), port: port}
	s.Start()
	s.addr = s.proc.addr
	t.Cleanup(s.Stop)
	return s
}

// Addr returns the server's host:port; it stays the same across restarts.
func (s *Server) Addr() string { return s.addr }

// Start starts the server again on the same port after [Server.Stop] and
// waits, a few seconds at most, until it answers PING; it fails the test if
// it does not. The data set starts empty. Start on a running server does
// nothing.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return
	}
	p, err := startRedisProc(s.dir, s.port)
	if err != nil {
		s.t.Fatalf("testenv: start redis-server: %v", err)
	}
	s.proc = p
}

// Stop kills the server and waits for it to exit. Stop on a stopped server
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop()
		s.proc = nil
	}
}
