package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// defaultRedisAddr is used when CACHEDSQL_TEST_REDIS is unset.
const defaultRedisAddr = "127.0.0.1:6379"

// redisEnv resolves the process-wide Redis once: the configured address, or a
// throwaway server when nothing answers there.
var redisEnv struct {
	// mu guards the fields below; it is held during resolution so that
	// parallel tests wait for one resolution.
	mu       sync.Mutex
	resolved bool
	addr     string // usable address, "" if none
	msg      string // why there is none
}

// redisState resolves the process-wide Redis on first use and returns its
// address, or "" and a message saying why there is none.
func redisState() (addr, msg string) {
	redisEnv.mu.Lock()
	defer redisEnv.mu.Unlock()
	if !redisEnv.resolved {
		redisEnv.addr, redisEnv.msg = resolveRedis()
		redisEnv.resolved = true
	}
	return redisEnv.addr, redisEnv.msg
}

// RedisAddr returns the address of a reachable Redis: CACHEDSQL_TEST_REDIS
// (default 127.0.0.1:6379), or a throwaway redis-server this process started
// when nothing answers there. Without either it skips t with a message saying
// how to start Redis, or fails t when [InCI].
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr, msg := redisState()
	if addr == "" {
		skipOrFail(t, msg)
	}
	return addr
}

// Redis returns a client to the Redis of [RedisAddr], with
// ContextTimeoutEnabled so that context deadlines bound socket I/O. The
// client is closed when t ends. It skips or fails t like [RedisAddr].
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	return newRedisClient(t, RedisAddr(t))
}

// newRedisClient returns a client to addr that is closed when t ends.
func newRedisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		DialTimeout:           probeTimeout,
		ReadTimeout:           probeTimeout,
		WriteTimeout:          probeTimeout,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix "cachedsqltest:<16 hex digits>:" unique to this
// call, and registers a cleanup that deletes every key with that prefix from
// the Redis of [RedisAddr] (SCAN and DEL; never FLUSHDB). Prefix itself needs
// no Redis: the cleanup does nothing if this process never reached one.
func Prefix(t testing.TB) string {
	t.Helper()
	p := "cachedsqltest:" + randomHex(8) + ":"
	t.Cleanup(func() {
		addr := resolvedRedis()
		if addr == "" {
			return
		}
		if err := deletePrefix(addr, p); err != nil {
			t.Errorf("testenv: clean up keys %s*: %v", p, err)
		}
	})
	return p
}

// resolvedRedis returns the address of the process-wide Redis if it was
// already resolved and usable, or "", without resolving it.
func resolvedRedis() string {
	redisEnv.mu.Lock()
	defer redisEnv.mu.Unlock()
	return redisEnv.addr
}

// deletePrefix deletes all keys starting with prefix at addr, in a few seconds.
func deletePrefix(addr, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer c.Close()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := c.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Del(ctx, batch...).Err()
	}
	return nil
}

// resolveRedis finds or starts the process-wide Redis and returns its
// address, or "" and a message saying why there is none.
func resolveRedis() (addr, msg string) {
	addr = os.Getenv("CACHEDSQL_TEST_REDIS")
	if addr == "" {
		addr = defaultRedisAddr
	}
	probeErr := pingRedis(addr)
	if probeErr == nil {
		return addr, ""
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "", redisHint(addr, errors.Join(probeErr, errors.New("testenv: no redis-server in PATH to start one")))
	}
	p, err := startThrowawayRedis()
	if err != nil {
		return "", redisHint(addr, errors.Join(probeErr, err))
	}
	atExit(func() { p.stop(); _ = os.RemoveAll(p.dir) })
	return p.addr, ""
}

// redisHint says why no Redis is available and how to start one.
func redisHint(addr string, cause error) string {
	return fmt.Sprintf("testenv: no Redis at %s (%v); start one with\n"+
		"\tredis-server --save \"\" --appendonly no --port 6379 --bind 127.0.0.1\n"+
		"or set CACHEDSQL_TEST_REDIS=host:port", addr, cause)
}

// pingRedis checks that a Redis at addr answers PING within probeTimeout. It
// speaks the protocol itself so that a refused probe logs nothing.
func pingRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("testenv: PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// startThrowawayRedis starts a redis-server on a free port in a new temporary
// directory, trying a few ports in case one is taken meanwhile.
func startThrowawayRedis() (*redisProc, error) {
	dir, err := os.MkdirTemp("", "cachedsql-redis-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		var p *redisProc
		if p, err = startRedisProc(dir, port); err == nil {
			return p, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, err
}

// redisProc is a running redis-server child process.
type redisProc struct {
	addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returns
}

// startRedisProc starts redis-server on port with its files in dir, and with
// the extra command-line options, and waits until it answers PING.
func startRedisProc(dir string, port int, extra ...string) (*redisProc, error) {
	logPath := filepath.Join(dir, "redis-"+strconv.Itoa(port)+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor
	args := append([]string{"--save", "", "--appendonly", "no",
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir}, extra...)
	cmd := exec.Command("redis-server", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	// Take the server down with us if the test binary dies without Main.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start redis-server: %w", err)
	}
	p := &redisProc{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	if err := poll(startTimeout, p.exited, func() error { return pingRedis(p.addr) }); err != nil {
		p.stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("testenv: redis-server on port %d: %w\n%s", port, err, log)
	}
	return p, nil
}

// stop kills the server and waits for it to exit.
func (p *redisProc) stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}
