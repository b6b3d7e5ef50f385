package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy between clients and a real server that injects
// faults: delay, a hung server ([Proxy.Blackhole]) and dropped connections
// ([Proxy.Refuse]). Its methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup     // accept loop and pumps
	ctx    context.Context    // ends dials in progress on Close
	cancel context.CancelFunc // cancels ctx

	// mu guards the fields below.
	mu        sync.Mutex
	delay     time.Duration
	blackhole bool
	refuse    bool
	closed    bool
	changed   chan struct{}         // closed and replaced on every fault change
	conns     map[net.Conn]struct{} // open connections, both sides
}

// NewProxy starts a proxy listening on 127.0.0.1:0 that forwards each
// connection to target. It is closed when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy listen: %v", err)
	}
	p := &Proxy{
		target:  target,
		ln:      ln,
		changed: make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the address clients connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetDelay delays every chunk forwarded, in either direction, by d; 0 removes
// the delay.
func (p *Proxy) SetDelay(d time.Duration) {
	p.update(func() { p.delay = d })
}

// Blackhole, when on, keeps connections open but forwards nothing, like a
// hung server: bytes read are held until Blackhole(false), and new
// connections are accepted but silent.
func (p *Proxy) Blackhole(on bool) {
	p.update(func() { p.blackhole = on })
}

// Refuse, when on, resets every open connection and every new one at once.
// Refuse(false) lets new connections through again.
func (p *Proxy) Refuse(on bool) {
	p.update(func() {
		p.refuse = on
		if on {
			for c := range p.conns {
				reset(c)
			}
		}
	})
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines to end. Close is idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.cancel()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

// update applies a fault change and wakes pumps waiting on the old state.
func (p *Proxy) update(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
}

// reset closes c so that its peer sees a connection reset.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// acceptLoop accepts clients until the listener is closed.
func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve connects client to the target and forwards both ways until both
// directions end.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	d := net.Dialer{Timeout: probeTimeout}
	server, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		reset(client)
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(server, client) }()
	go func() { defer wg.Done(); p.pump(client, server) }()
	wg.Wait()
}

// track records c as open; when the proxy is closed or refusing, it closes
// c instead and reports false.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.refuse {
		reset(c)
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// pump copies src to dst chunk by chunk, applying the faults in force. At the
// end of src it half-closes dst; on any error it closes both.
func (p *Proxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.hold() {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
				return
			}
			break
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
}

// hold waits while the proxy is blackholed, then for the delay in force. It
// reports false if the proxy was closed or started refusing meanwhile.
func (p *Proxy) hold() bool {
	for {
		p.mu.Lock()
		blackhole, refuse, delay, changed := p.blackhole, p.refuse, p.delay, p.changed
		p.mu.Unlock()
		if refuse {
			return false
		}
		if !blackhole {
			return p.sleep(delay)
		}
		select {
		case <-changed:
		case <-p.ctx.Done():
			return false
		}
	}
}

// sleep waits for d, or reports false if the proxy is closed first.
func (p *Proxy) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}
