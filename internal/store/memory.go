package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
)

// DefaultMaxBytes is the default [MemoryOptions.MaxBytes]: 64 MiB.
const DefaultMaxBytes = 64 << 20

// Tuning of the expiry sweep: every sweepEvery calls to Set, up to
// sweepSample items are looked at and the expired ones dropped.
const (
	sweepEvery  = 64
	sweepSample = 32
)

// MemoryOptions configures a [Memory] store. The zero value means all
// defaults.
type MemoryOptions struct {
	// MaxBytes bounds the bytes of keys and values held, in bytes (default
	// [DefaultMaxBytes]; zero or negative means the default). Per-item
	// bookkeeping is not counted, so real memory use is somewhat higher.
	MaxBytes int64
	// Clock tells the time for TTL expiry (default [clock.System]).
	Clock clock.Clock
	// MaxValueBytes bounds the values Fetch returns (default
	// [DefaultMaxValueBytes]; zero or negative means the default): a larger
	// one is a [*KeyError].
	MaxValueBytes int64
}

// Memory is an in-process [Store], the default when no Redis is configured.
// It is safe for concurrent use and starts no goroutine.
//
// Expiry is lazy: an expired entry is dropped when read, and every few
// writes a small sample of entries is checked and the expired ones dropped.
//
// When keys and values exceed MaxBytes, entries are evicted in least
// recently used order (exact LRU: Fetch and Set refresh an entry). Tokens
// are never evicted: they are small, one per table, and evicting one would
// turn every entry that depends on it into a miss. Tokens count toward
// MaxBytes, so entries make room for them; if tokens alone exceed MaxBytes,
// the store holds tokens and no entries.
//
// A hash of [Memory.SetHashIf] is one entry, its names and values counted
// toward MaxBytes. Every key also counts a fixed estimate of its bookkeeping.
// Sets of [Memory.AddMembers] and [Memory.SetIndexed] count toward MaxBytes
// (each member with an estimate of its bookkeeping) and are never evicted
// themselves, but an entry that is evicted, expires or is deleted leaves the
// index set that listed it. Hot sets and logs are outside MaxBytes: there are
// few, each bounded (hot sets by their decay, logs by [LogCap]).
//
// Set copies the value, and Fetch returns a copy: callers may keep or
// modify either. The same holds for the fields of SetHashIf and FetchHash.
type Memory struct {
	maxBytes int64
	maxValue int64
	clock    clock.Clock
	base     time.Time // times are kept as durations since base

	// mu guards the fields inside it.
	mu struct {
		sync.Mutex
		items map[string]*item
		hot   map[string]*hotSet   // sorted sets of AddHot, outside MaxBytes
		logs  map[string][]string  // lists of BumpAndLog, newest first, outside MaxBytes
		index map[string]*indexSet // sets of SetIndexed and AddMembers, counted in bytes
		lru   item                 // sentinel of the ring of entries, most recent first
		bytes int64                // item.size() over items, plus indexSet.bytes over index
		sets  uint32
	}
}

var _ Store = (*Memory)(nil)

// item is one key of a [Memory]: an entry with a TTL, in the LRU ring, or a
// pinned token without TTL, outside the ring. An entry is a value or a hash.
type item struct {
	key        string
	value      []byte            // never modified once stored; nil only for a hash
	index      string            // the index set that lists the entry ("": none), left when it goes
	fields     map[string]string // a hash's fields, never modified once stored; nil for a value
	fieldBytes int               // len of every name and value in fields
	pinned     bool
	token      uint64        // the token of a pinned item
	expires    time.Duration // since Memory.base, for an entry

	prev, next *item // LRU ring links of an entry
}

// tokenValue is the token that the item reads as.
func (it *item) tokenValue() uint64 {
	if it.pinned {
		return it.token
	}
	return decodeToken(it.value)
}

// Bookkeeping costs counted toward MaxBytes on top of the bytes of keys, values and members, so that
// many small keys cannot hold several times MaxBytes of heap: the item struct and its map slot; a member
// of an index set (its map slot, and its string, which outlives the item it names); an index set.
const (
	itemOverhead   = 160
	memberOverhead = 64
	setOverhead    = 128
)

// size is what the item counts toward MaxBytes: its key, value or fields, and itemOverhead.
func (it *item) size() int64 { return int64(len(it.key)+len(it.value)+it.fieldBytes) + itemOverhead }

// NewMemory returns an empty [Memory] configured by o.
func NewMemory(o MemoryOptions) *Memory {
	m := &Memory{maxBytes: o.MaxBytes, clock: o.Clock}
	if m.maxBytes <= 0 {
		m.maxBytes = DefaultMaxBytes
	}
	m.maxValue = o.MaxValueBytes
	if m.maxValue <= 0 || m.maxValue > DefaultMaxValueBytes {
		m.maxValue = DefaultMaxValueBytes
	}
	if m.clock == nil {
		m.clock = clock.System
	}
	m.base = m.clock.Now()
	m.mu.items = make(map[string]*item)
	m.mu.hot = make(map[string]*hotSet)
	m.mu.logs = make(map[string][]string)
	m.mu.index = make(map[string]*indexSet)
	m.mu.lru.next, m.mu.lru.prev = &m.mu.lru, &m.mu.lru
	return m
}

func (m *Memory) now() time.Duration { return m.clock.Now().Sub(m.base) }

// Fetch implements [Store.Fetch] under one lock acquisition.
func (m *Memory) Fetch(ctx context.Context, key string, tokenKeys []string, tokens []uint64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap("fetch", err)
	}
	if len(tokens) != len(tokenKeys) {
		return nil, wrap("fetch", errTokenLen)
	}
	now := m.now()
	m.mu.Lock()
	var value []byte
	if it := m.getLocked(key, now); it != nil {
		if it.fields != nil {
			m.mu.Unlock()
			return nil, &KeyError{Op: "fetch", Key: key, Err: ErrWrongType}
		}
		if int64(len(it.value)) > m.maxValue {
			m.mu.Unlock()
			return nil, &KeyError{Op: "fetch", Key: key, Err: ErrTooLarge}
		}
		value = it.value
		m.touchLocked(it)
	} else if m.setTypedLocked(key, now) {
		m.mu.Unlock()
		return nil, &KeyError{Op: "fetch", Key: key, Err: ErrWrongType}
	}
	m.tokensLocked(tokenKeys, tokens, now)
	m.mu.Unlock()
	if len(value) == 0 {
		return nil, nil // as in Redis: a present empty value reads as missing
	}
	// Stored values are never modified, so the copy can be made unlocked.
	return bytes.Clone(value), nil
}

// clearSetsLocked removes any hot set, log or index set at key, as a SET in
// Redis replaces a key of any type.
func (m *Memory) clearSetsLocked(key string) {
	delete(m.mu.hot, key)
	delete(m.mu.logs, key)
	m.deleteIndexLocked(key)
}

// setTypedLocked reports whether key holds a hot set, a log or an index set.
func (m *Memory) setTypedLocked(key string, now time.Duration) bool {
	_, isLog := m.mu.logs[key]
	return isLog || m.hotLocked(key, now) != nil || m.indexLocked(key, now) != nil
}

// tokensLocked writes into tokens the current value of each token key, 0
// when missing.
func (m *Memory) tokensLocked(tokenKeys []string, tokens []uint64, now time.Duration) {
	for i, k := range tokenKeys {
		tokens[i] = 0
		if it := m.getLocked(k, now); it != nil && it.fields == nil { // a hash reads as no token
			tokens[i] = it.tokenValue()
		}
	}
}

// EnsureTokens implements [Store.EnsureTokens].
func (m *Memory) EnsureTokens(ctx context.Context, tokenKeys []string, tokens []uint64) error {
	if err := ctx.Err(); err != nil {
		return wrap("ensure tokens", err)
	}
	if len(tokens) != len(tokenKeys) {
		return wrap("ensure tokens", errTokenLen)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, k := range tokenKeys {
		it := m.getLocked(k, now)
		if it == nil || it.fields != nil {
			// Missing, or a hash where a token belongs: a fresh token replaces it, as in Redis.
			m.clearSetsLocked(k)
			it = newTokenItem(k)
			m.putLocked(it)
		}
		tokens[i] = it.tokenValue()
	}
	m.evictLocked()
	return nil
}

// Bump implements [Store.Bump].
func (m *Memory) Bump(ctx context.Context, tokenKeys []string) error {
	if err := ctx.Err(); err != nil {
		return wrap("bump", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range tokenKeys {
		m.clearSetsLocked(k)
		m.putLocked(newTokenItem(k))
	}
	m.evictLocked()
	return nil
}

func newTokenItem(key string) *item {
	v := newToken()
	enc := encodeToken(v)
	return &item{key: key, value: enc[:], pinned: true, token: v}
}

// Set implements [Store.Set]. A value whose key and value alone exceed
// MaxBytes is not kept (any previous value at key is removed).
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return wrap("set", err)
	}
	if ttl <= 0 {
		return wrap("set", errBadTTL)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(key, value, ttl, now)
	return nil
}

// setLocked is Set under the lock.
func (m *Memory) setLocked(key string, value []byte, ttl, now time.Duration) {
	m.storeLocked(&item{key: key, value: append([]byte{}, value...), expires: now + ttl}, now)
}

// storeLocked puts the entry it (a value or a hash) in place of whatever its
// key holds, unless it alone exceeds MaxBytes: then the key is just cleared.
func (m *Memory) storeLocked(it *item, now time.Duration) {
	delete(m.mu.hot, it.key)
	m.deleteIndexLocked(it.key)
	if it.size() > m.maxBytes {
		m.removeLocked(it.key)
		return
	}
	m.putLocked(it)
	m.mu.sets++
	if m.mu.sets%sweepEvery == 0 {
		m.sweepLocked(now)
		m.sweepHotLocked(now)
		m.sweepIndexLocked(now)
	}
	m.evictLocked()
}

// Delete implements [Store.Delete].
func (m *Memory) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return wrap("delete", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		m.removeLocked(k)
		delete(m.mu.hot, k)
		delete(m.mu.logs, k)
		m.deleteIndexLocked(k)
	}
	return nil
}

// Scan implements [Store.Scan]. It lists the matching keys first and calls
// fn without holding the lock, so fn may use the store (to delete, say).
func (m *Memory) Scan(ctx context.Context, prefix string, fn func(key string) bool) error {
	if err := ctx.Err(); err != nil {
		return wrap("scan", err)
	}
	now := m.now()
	var keys []string
	m.mu.Lock()
	for k, it := range m.mu.items {
		if strings.HasPrefix(k, prefix) && !it.expiredAt(now) {
			keys = append(keys, k)
		}
	}
	for k, h := range m.mu.hot {
		if strings.HasPrefix(k, prefix) && now < h.expires {
			keys = append(keys, k)
		}
	}
	for k := range m.mu.logs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	for k, x := range m.mu.index {
		if strings.HasPrefix(k, prefix) && now < x.expires {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return wrap("scan", err)
		}
		if !fn(k) {
			return nil
		}
	}
	return nil
}

// Ping implements [Store.Ping]: a Memory is always reachable, so Ping
// reports only a done ctx.
func (m *Memory) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// hotSet is a sorted set of [Memory.AddHot]: member scores and an expiry.
type hotSet struct {
	scores  map[string]float64
	expires time.Duration // since Memory.base
}

// errWrongType reports a hot-set operation on a key that holds a value, as
// Redis does.
var errWrongType = errors.New("key holds a value, not a hot set")

// AddHot implements [Store.AddHot]. Hot sets do not count toward MaxBytes
// and are never evicted; an expired one is dropped when next touched.
func (m *Memory) AddHot(ctx context.Context, key string, hits map[string]float64, decay float64, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return wrap("add hot", err)
	}
	if err := checkHot(decay, ttl); err != nil {
		return wrap("add hot", err)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getLocked(key, now) != nil {
		return wrap("add hot", errWrongType)
	}
	h := m.hotLocked(key, now)
	if h == nil {
		h = &hotSet{scores: make(map[string]float64, len(hits))}
	}
	for k := range h.scores {
		h.scores[k] *= decay
	}
	for k, n := range hits {
		h.scores[k] += n
	}
	for k, v := range h.scores {
		if v < 1 {
			delete(h.scores, k)
		}
	}
	if len(h.scores) == 0 { // Redis drops an empty sorted set
		delete(m.mu.hot, key)
		return nil
	}
	h.expires = now + ttl
	m.mu.hot[key] = h
	return nil
}

// TopHot implements [Store.TopHot].
func (m *Memory) TopHot(ctx context.Context, key string, n int) ([]HotMember, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap("top hot", err)
	}
	if n <= 0 {
		return nil, nil
	}
	m.mu.Lock()
	h := m.hotLocked(key, m.now())
	var out []HotMember
	if h != nil {
		out = make([]HotMember, 0, len(h.scores))
		for k, v := range h.scores {
			out = append(out, HotMember{Member: k, Score: v})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b HotMember) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(b.Member, a.Member)
	})
	return out[:min(n, len(out))], nil
}

// hotLocked returns the live hot set at key, dropping it if it has expired.
func (m *Memory) hotLocked(key string, now time.Duration) *hotSet {
	h := m.mu.hot[key]
	if h != nil && now >= h.expires {
		delete(m.mu.hot, key)
		return nil
	}
	return h
}

// sweepHotLocked drops the expired hot sets. There are few (one per rule
// of the caching layer), so all are looked at.
func (m *Memory) sweepHotLocked(now time.Duration) {
	for k, h := range m.mu.hot {
		if now >= h.expires {
			delete(m.mu.hot, k)
		}
	}
}
