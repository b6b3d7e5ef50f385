package testenv

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// echoServer starts a TCP server that writes back what it reads; it stops
// when t ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c); _ = c.Close() })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dial connects to addr and closes the connection when t ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// roundTrip writes msg to c and reads back len(msg) bytes.
func roundTrip(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	return got
}

func TestProxyForwardsFaithfully(t *testing.T) {
	for _, size := range []int{1, 1000, 1 << 20} {
		t.Run(fmt.Sprintf("%dB", size), func(t *testing.T) {
			p := NewProxy(t, echoServer(t))
			c := dial(t, p.Addr())
			msg := make([]byte, size)
			_, _ = rand.Read(msg)
			if got := roundTrip(t, c, msg); !bytes.Equal(got, msg) {
				t.Errorf("echo through proxy of %d bytes differs from what was sent", size)
			}
		})
	}
}

func TestProxyDelay(t *testing.T) {
	const d = 100 * time.Millisecond
	p := NewProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("warm")) // connection set up before timing
	p.SetDelay(d)
	start := time.Now()
	roundTrip(t, c, []byte("ping"))
	// One chunk each way, each delayed by d; no upper bound on a shared machine.
	if got, want := time.Since(start), 2*d; got < want {
		t.Errorf("round trip with delay %v took %v, want at least %v", d, got, want)
	}
}

func TestProxyBlackholeAndHeal(t *testing.T) {
	p := NewProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("before"))
	p.Blackhole(true)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var nerr net.Error
	if n, err := c.Read(make([]byte, 4)); !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("read while blackholed = %d, %v; want a timeout", n, err)
	}
	p.Blackhole(false)
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Errorf("read after heal = %q, %v; want %q, nil", got, err, "held")
	}
}

func TestProxyRefuseAndHeal(t *testing.T) {
	p := NewProxy(t, RedisAddr(t))
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	steps := []struct {
		name    string
		refuse  bool
		wantErr bool
	}{
		{"before", false, false},
		{"refusing", true, true},
		{"healed", false, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			p.Refuse(s.refuse)
			err := rdb.Ping(ctx(t)).Err()
			if s.wantErr && err == nil {
				t.Errorf("PING with Refuse(%v) = nil, want an error", s.refuse)
			}
			if !s.wantErr && err != nil {
				t.Errorf("PING with Refuse(%v) = %v, want nil", s.refuse, err)
			}
		})
	}
}

func TestProxyCloseEndsConnections(t *testing.T) {
	p := NewProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("x"))
	p.Blackhole(true)
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	p.Close() // returns only once its goroutines, including the held pump, end
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read after Close = %d, nil; want an error", n)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Errorf("dial after Close succeeded, want an error")
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "testenv.(*Proxy)") {
		t.Errorf("proxy goroutines left after Close:\n%s", stacks)
	}
}
