package store

import "time"

// This file holds the bookkeeping of [Memory]: the item map, the LRU ring of
// entries and the byte count. Every function needs Memory.mu held.

func (it *item) expiredAt(now time.Duration) bool {
	return !it.pinned && now >= it.expires
}

// getLocked returns the live item at key, dropping it if it has expired.
func (m *Memory) getLocked(key string, now time.Duration) *item {
	it := m.mu.items[key]
	if it == nil {
		return nil
	}
	if it.expiredAt(now) {
		m.dropLocked(it)
		return nil
	}
	return it
}

// putLocked stores it, replacing any item at its key.
func (m *Memory) putLocked(it *item) {
	m.removeLocked(it.key)
	m.mu.items[it.key] = it
	m.mu.bytes += it.size()
	if !it.pinned {
		m.linkFrontLocked(it)
	}
}

// removeLocked removes the item at key, if any.
func (m *Memory) removeLocked(key string) {
	if it := m.mu.items[key]; it != nil {
		m.dropLocked(it)
	}
}

func (m *Memory) dropLocked(it *item) {
	delete(m.mu.items, it.key)
	m.mu.bytes -= it.size()
	if it.index != "" {
		m.leaveIndexLocked(it)
	}
	if !it.pinned {
		it.prev.next, it.next.prev = it.next, it.prev
		it.prev, it.next = nil, nil
	}
}

func (m *Memory) linkFrontLocked(it *item) {
	head := &m.mu.lru
	it.prev, it.next = head, head.next
	head.next.prev = it
	head.next = it
}

// touchLocked marks an entry as the most recently used.
func (m *Memory) touchLocked(it *item) {
	if it.pinned || m.mu.lru.next == it {
		return
	}
	it.prev.next, it.next.prev = it.next, it.prev
	m.linkFrontLocked(it)
}

// evictLocked drops least recently used entries until the byte count fits
// MaxBytes or no entry is left; tokens stay.
func (m *Memory) evictLocked() {
	head := &m.mu.lru
	for m.mu.bytes > m.maxBytes && head.prev != head {
		m.dropLocked(head.prev)
	}
}

// sweepLocked looks at up to sweepSample items, in map order (which Go
// randomizes), and drops those expired at now.
func (m *Memory) sweepLocked(now time.Duration) {
	n := 0
	for _, it := range m.mu.items {
		if it.expiredAt(now) {
			m.dropLocked(it)
		}
		if n++; n == sweepSample {
			return
		}
	}
}
