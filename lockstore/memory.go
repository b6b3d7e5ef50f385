package lockstore

import (
	"context"
	"sync"
	"time"
)

var _ Leases = (*Memory)(nil)

// minSweep is the number of leases below which Memory never sweeps.
const minSweep = 64

// Memory is a [Leases] within one process, with expiry by a [Clock].
// It suits the embedded in-memory store, where one process is the only
// filler. The context arguments of its methods are checked only for
// cancellation: nothing blocks.
//
// Memory is safe for concurrent use.
type Memory struct {
	clock Clock

	// mu guards leases and sweepAt.
	mu     sync.Mutex
	leases map[string]Lease
	// sweepAt is the size of leases at which Acquire next drops expired
	// leases, so that keys acquired once and never released do not pile up.
	sweepAt int
}

// NewMemory returns in-process [Leases] whose expiry follows c; a nil c
// means the system clock.
func NewMemory(c Clock) *Memory {
	return &Memory{clock: orSystem(c), leases: make(map[string]Lease), sweepAt: minSweep}
}

// Acquire implements [Leases.Acquire].
func (m *Memory) Acquire(ctx context.Context, key string, ttl time.Duration) (Lease, bool, error) {
	if err := checkTTL(ttl); err != nil {
		return Lease{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return Lease{}, false, err
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.leases[key]; ok && now.Before(cur.Expires) {
		return Lease{}, false, nil
	}
	l := Lease{Key: key, Token: newToken(), Expires: now.Add(ttl)}
	m.leases[key] = l
	m.maybeSweepLocked(now)
	return l, true, nil
}

// Reacquire implements [Leases.Reacquire].
func (m *Memory) Reacquire(ctx context.Context, l Lease, ttl time.Duration) (Lease, bool, error) {
	if err := checkTTL(ttl); err != nil {
		return Lease{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return Lease{}, false, err
	}
	if l.Token == "" {
		return Lease{}, false, nil
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.leases[l.Key]; ok && now.Before(cur.Expires) && cur.Token != l.Token {
		return Lease{}, false, nil
	}
	l.Expires = now.Add(ttl)
	m.leases[l.Key] = l
	m.maybeSweepLocked(now)
	return l, true, nil
}

// Release implements [Leases.Release].
func (m *Memory) Release(ctx context.Context, l Lease) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if l.Token == "" {
		return false, nil
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.leases[l.Key]
	if !ok || cur.Token != l.Token {
		return false, nil
	}
	delete(m.leases, l.Key)
	// Our own lease, but past its expiry: Redis would have dropped it
	// already, so report it as not released.
	return now.Before(cur.Expires), nil
}

// Held reports whether anyone holds the lease on key now. It is for inspection (tools, tests): a
// waiter learns that a fill has ended by looking for the fill's result, not by polling the lease.
func (m *Memory) Held(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.leases[key]
	return ok && now.Before(cur.Expires), nil
}

// maybeSweepLocked drops expired leases once the map has doubled since the
// last sweep, which keeps the cost per Acquire constant on average.
func (m *Memory) maybeSweepLocked(now time.Time) {
	if len(m.leases) < m.sweepAt {
		return
	}
	for k, l := range m.leases {
		if !now.Before(l.Expires) {
			delete(m.leases, k)
		}
	}
	m.sweepAt = max(2*len(m.leases), minSweep)
}
