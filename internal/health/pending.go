package health

import (
	"sync"
	"sync/atomic"
)

// Pending holds the generation tokens whose replacement has not reached the store, for the deliverer
// that retries them; reads of them bypass the cache meanwhile ([Pending.Holds], in memory). Past its
// bound it holds the epoch instead, which stands for every token. It also records whether the store is
// known to be down for writes ([Pending.MarkDown]). [Pending.Init] sets it up. It is safe for
// concurrent use.
type Pending struct {
	max int

	// has mirrors "something is pending", so that reads take no lock when nothing is.
	has atomic.Bool
	// down: the last attempt to reach the store failed, and no call has succeeded since.
	down atomic.Bool
	// wake nudges the deliverer (capacity 1: one nudge stands for any number).
	wake chan struct{}

	mu struct {
		sync.Mutex
		// keys maps each pending token key to the sequence number of its last addition: a delivery
		// removes a key only if no write added it again after the delivery read the set.
		keys map[string]uint64
		seq  uint64
		// overflow (at sequence overflowSeq): more than max keys were pending; the epoch replaces
		// them all.
		overflow    bool
		overflowSeq uint64
		epoch       string
	}
}

// Init sets the bound on pending keys. Call it before any other method.
func (d *Pending) Init(max int) {
	d.max = max
	d.wake = make(chan struct{}, 1)
	d.mu.keys = make(map[string]uint64)
}

// Add queues keys (past the bound, epoch, the key of the epoch, replaces them all) and nudges the
// deliverer.
func (d *Pending) Add(keys []string, epoch string) {
	d.mu.Lock()
	d.mu.seq++
	for _, k := range keys {
		d.mu.keys[k] = d.mu.seq
	}
	if len(d.mu.keys) > d.max {
		clear(d.mu.keys)
		d.mu.overflow, d.mu.overflowSeq, d.mu.epoch = true, d.mu.seq, epoch
	}
	d.has.Store(true)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Wake is nudged (without blocking) by every Add: the deliverer waits on it.
func (d *Pending) Wake() <-chan struct{} { return d.wake }

// Any reports whether anything is pending. It takes no lock.
func (d *Pending) Any() bool { return d.has.Load() }

// Holds reports whether the replacement of one of keys (or of every key, after an overflow) waits.
func (d *Pending) Holds(keys []string) bool {
	if !d.has.Load() {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.overflow {
		return true
	}
	for _, k := range keys {
		if _, ok := d.mu.keys[k]; ok {
			return true
		}
	}
	return false
}

// Count is the number of pending tokens (the bound plus one after an overflow).
func (d *Pending) Count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.overflow {
		return d.max + 1
	}
	return len(d.mu.keys)
}

// Batch is one delivery attempt's copy of the pending set.
type Batch struct {
	// Keys are the token keys to replace.
	Keys []string
	seqs []uint64
	// overflow: Keys is the epoch alone, standing for everything up to seq.
	overflow bool
	seq      uint64
}

// Snapshot copies the pending set for one delivery attempt.
func (d *Pending) Snapshot() Batch {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.overflow {
		return Batch{Keys: []string{d.mu.epoch}, overflow: true, seq: d.mu.overflowSeq}
	}
	b := Batch{Keys: make([]string, 0, len(d.mu.keys)), seqs: make([]uint64, 0, len(d.mu.keys))}
	for k, s := range d.mu.keys {
		b.Keys = append(b.Keys, k)
		b.seqs = append(b.seqs, s)
	}
	return b
}

// Delivered removes what b replaced, except keys a write queued again after b was taken.
func (d *Pending) Delivered(b Batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b.overflow {
		if d.mu.overflowSeq == b.seq {
			d.mu.overflow = false
		}
	} else {
		for i, k := range b.Keys {
			if d.mu.keys[k] == b.seqs[i] {
				delete(d.mu.keys, k)
			}
		}
	}
	d.has.Store(d.mu.overflow || len(d.mu.keys) > 0)
}

// MarkDown records that an attempt to reach the store failed, and reports whether it was not known
// down before (the first failure of an outage).
func (d *Pending) MarkDown() bool { return !d.down.Swap(true) }

// MarkUp records that a call to the store succeeded.
func (d *Pending) MarkUp() {
	if d.down.Load() {
		d.down.Store(false)
	}
}

// Down reports whether the store is known down for writes: the last attempt to reach it failed and no
// call has succeeded since. Writes then queue their tokens without a round trip of their own.
func (d *Pending) Down() bool { return d.down.Load() }
