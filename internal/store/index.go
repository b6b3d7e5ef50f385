package store

import (
	"context"
	"errors"
	"math"
	"time"
)

// errWrongTypeIndex reports a set operation on a key that holds a value, as
// Redis does.
var errWrongTypeIndex = errors.New("key holds a value, not an index set")

// SetIndexed implements [Store.SetIndexed] with one pipeline: SET PX, SADD
// and PEXPIRE. TTLs below the millisecond are rounded up to one.
func (r *Redis) SetIndexed(ctx context.Context, key string, value []byte, ttl time.Duration, index string, indexTTL time.Duration) error {
	if ttl <= 0 || indexTTL <= 0 {
		return wrap("set", errBadTTL)
	}
	pipe := r.c.Pipeline()
	pipe.Set(ctx, key, value, max(ttl, time.Millisecond))
	pipe.SAdd(ctx, index, key)
	pipe.PExpire(ctx, index, max(indexTTL, time.Millisecond))
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap("set", err)
	}
	return nil
}

// IndexMembers implements [Store.IndexMembers] with SMEMBERS.
func (r *Redis) IndexMembers(ctx context.Context, index string) ([]string, error) {
	pipe := r.c.Pipeline()
	cmd := pipe.SMembers(ctx, index)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap("index members", err)
	}
	return cmd.Val(), nil
}

// indexSet is a set of [Memory.SetIndexed] or [Memory.AddMembers]: members
// and an expiry.
type indexSet struct {
	members map[string]struct{}
	expires time.Duration // since Memory.base; noExpiry for none
	bytes   int64         // what the set counts toward MaxBytes
}

// deleteIndexLocked removes the index set at key, if any.
func (m *Memory) deleteIndexLocked(key string) {
	if x := m.mu.index[key]; x != nil {
		m.mu.bytes -= x.bytes
		delete(m.mu.index, key)
	}
}

// addMemberLocked adds member to x (the set at key), counting it toward MaxBytes.
func (m *Memory) addMemberLocked(x *indexSet, member string) {
	if _, ok := x.members[member]; ok {
		return
	}
	x.members[member] = struct{}{}
	n := int64(len(member)) + memberOverhead
	x.bytes += n
	m.mu.bytes += n
}

// leaveIndexLocked removes the entry it from the index set that lists it.
func (m *Memory) leaveIndexLocked(it *item) {
	x := m.mu.index[it.index]
	if x == nil {
		return
	}
	if _, ok := x.members[it.key]; ok {
		delete(x.members, it.key)
		n := int64(len(it.key)) + memberOverhead
		x.bytes -= n
		m.mu.bytes -= n
	}
}

// noExpiry is the expiry of a set without TTL.
const noExpiry = time.Duration(math.MaxInt64)

// SetIndexed implements [Store.SetIndexed]. Index sets count toward MaxBytes
// but are never evicted; an expired one is dropped when next touched or
// swept, and an entry that goes leaves the set that listed it.
func (m *Memory) SetIndexed(ctx context.Context, key string, value []byte, ttl time.Duration, index string, indexTTL time.Duration) error {
	if err := ctx.Err(); err != nil {
		return wrap("set", err)
	}
	if ttl <= 0 || indexTTL <= 0 {
		return wrap("set", errBadTTL)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getLocked(index, now) != nil || m.hotLocked(index, now) != nil {
		return wrap("set", errWrongTypeIndex)
	}
	m.setLocked(key, value, ttl, now)
	m.addIndexLocked(index, key, indexTTL, now)
	return nil
}

// addIndexLocked adds key to the set at index and sets the set's TTL, as SADD
// and PEXPIRE do. The caller checked that index holds no value or hot set.
func (m *Memory) addIndexLocked(index, key string, indexTTL, now time.Duration) {
	x := m.setAtLocked(index, now)
	m.addMemberLocked(x, key)
	x.expires = now + indexTTL
	if it := m.mu.items[key]; it != nil && !it.pinned {
		it.index = index
	}
	m.evictLocked()
}

// setAtLocked returns the live set at key, creating an empty one without
// TTL when there is none.
func (m *Memory) setAtLocked(key string, now time.Duration) *indexSet {
	x := m.indexLocked(key, now)
	if x == nil {
		x = &indexSet{members: make(map[string]struct{}), expires: noExpiry, bytes: int64(len(key)) + setOverhead}
		m.mu.index[key] = x
		m.mu.bytes += x.bytes
	}
	return x
}

// AddMembers implements [Store.AddMembers] with SADD.
func (r *Redis) AddMembers(ctx context.Context, key string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, s := range members {
		args[i] = s
	}
	pipe := r.c.Pipeline()
	pipe.SAdd(ctx, key, args...)
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap("add members", err)
	}
	return nil
}

// AddMembers implements [Store.AddMembers]. The set counts toward MaxBytes
// and is never evicted; it keeps the TTL that SetIndexed may have
// given it, and has none otherwise.
func (m *Memory) AddMembers(ctx context.Context, key string, members ...string) error {
	if err := ctx.Err(); err != nil {
		return wrap("add members", err)
	}
	if len(members) == 0 {
		return nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getLocked(key, now) != nil || m.hotLocked(key, now) != nil {
		return wrap("add members", errWrongTypeIndex)
	}
	x := m.setAtLocked(key, now)
	for _, s := range members {
		m.addMemberLocked(x, s)
	}
	m.evictLocked()
	return nil
}

// IndexMembers implements [Store.IndexMembers].
func (m *Memory) IndexMembers(ctx context.Context, index string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap("index members", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.indexLocked(index, m.now())
	if x == nil {
		return nil, nil
	}
	out := make([]string, 0, len(x.members))
	for k := range x.members {
		out = append(out, k)
	}
	return out, nil
}

// indexLocked returns the live index set at key, dropping it if it has
// expired.
func (m *Memory) indexLocked(key string, now time.Duration) *indexSet {
	x := m.mu.index[key]
	if x != nil && now >= x.expires {
		m.deleteIndexLocked(key)
		return nil
	}
	return x
}

// sweepIndexLocked drops the expired index sets. There are few (a handful
// of time buckets per rule), so all are looked at.
func (m *Memory) sweepIndexLocked(now time.Duration) {
	for k, x := range m.mu.index {
		if now >= x.expires {
			m.deleteIndexLocked(k)
		}
	}
}
