package store

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// LogCap is how many entries an invalidation log keeps: [Store.BumpAndLog]
// trims it to the newest LogCap.
const LogCap = 100

// LogEntry is one record of an invalidation log, for people reading it. It is
// stored as compact JSON.
type LogEntry struct {
	// Time is when the invalidation was made.
	Time time.Time `json:"time"`
	// Cause says what made it: the write's statement text, "COMMIT", and so on.
	Cause string `json:"cause"`
	// Tables names the invalidated tables; "*" stands for the whole database.
	Tables []string `json:"tables"`
	// Rows counts the rows whose entries were invalidated one by one (a write pinned to key values
	// under row rules); their tables' result-set entries were invalidated too.
	Rows int `json:"rows,omitempty"`
	// Text is the write's statement with every literal written as "?" (keying.DigestOf), so that it
	// holds no value; "" for an invalidation that no statement made.
	Text string `json:"text,omitempty"`
}

// encodeLog returns the stored form of e.
func encodeLog(e LogEntry) ([]byte, error) {
	return json.Marshal(e)
}

// decodeLog reads a stored log entry. A value that is not JSON of a
// LogEntry becomes an entry whose Cause is the raw value, so that a reader
// sees everything the list holds.
func decodeLog(s string) LogEntry {
	var e LogEntry
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return LogEntry{Cause: s}
	}
	return e
}

// BumpAndLog implements [Store.BumpAndLog] with one pipeline: the SETs of
// [Redis.Bump], then LPUSH and LTRIM of the log list.
func (r *Redis) BumpAndLog(ctx context.Context, tokenKeys []string, logKey string, entry LogEntry) error {
	_, err := r.bumpAndRead(ctx, "bump", tokenKeys, logKey, entry, BumpRead{})
	return err
}

// BumpAndRead implements [Store.BumpAndRead] with the pipeline of
// [Redis.BumpAndLog] followed by an SMEMBERS of each set and a GET of each
// token.
func (r *Redis) BumpAndRead(ctx context.Context, tokenKeys []string, logKey string, entry LogEntry, read BumpRead) (BumpResult, error) {
	return r.bumpAndRead(ctx, "bump and read", tokenKeys, logKey, entry, read)
}

// bumpAndRead is BumpAndLog and BumpAndRead, whose errors it names op: when
// there are token keys, a SET of a fresh token at each, LPUSH and LTRIM of
// the log; then SMEMBERS of each set; all in one pipeline.
func (r *Redis) bumpAndRead(ctx context.Context, op string, tokenKeys []string, logKey string, entry LogEntry, read BumpRead) (BumpResult, error) {
	sets := read.Sets
	if len(tokenKeys) == 0 && len(sets) == 0 && len(read.Tokens) == 0 && read.Counter == "" {
		return BumpResult{}, nil
	}
	pipe := r.c.Pipeline()
	if len(tokenKeys) > 0 {
		v, err := encodeLog(entry)
		if err != nil {
			return BumpResult{}, wrap(op, err)
		}
		for _, k := range tokenKeys {
			enc := encodeToken(newToken())
			pipe.Set(ctx, k, enc[:], 0)
		}
		pipe.LPush(ctx, logKey, v)
		pipe.LTrim(ctx, logKey, 0, LogCap-1)
	}
	var incr *redis.IntCmd
	if read.Counter != "" {
		incr = pipe.Incr(ctx, read.Counter)
	}
	reads := make([]*redis.StringSliceCmd, len(sets))
	for i, k := range sets {
		reads[i] = pipe.SMembers(ctx, k)
	}
	tokens := r.queueTokenReads(ctx, pipe, read.Tokens)
	// A missing token makes its GET fail with redis.Nil: the replies are checked one by one below.
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return BumpResult{}, wrap(op, err)
	}
	var out BumpResult
	if incr != nil {
		n, err := incr.Uint64()
		if err != nil {
			return BumpResult{}, wrap(op, err)
		}
		out.Counter = n
	}
	if len(sets) > 0 {
		out.Members = make([][]string, len(sets))
		for i, cmd := range reads {
			members, err := cmd.Result()
			if err != nil {
				return BumpResult{}, wrap(op, err)
			}
			if len(members) > 0 {
				out.Members[i] = members
			}
		}
	}
	if len(read.Tokens) > 0 {
		out.Tokens = make([]uint64, len(read.Tokens))
		if err := tokens.decode(out.Tokens); err != nil {
			return BumpResult{}, wrap(op, err)
		}
	}
	return out, nil
}

// RecentLog implements [Store.RecentLog] with LRANGE.
func (r *Redis) RecentLog(ctx context.Context, key string, n int) ([]LogEntry, error) {
	if n <= 0 {
		return nil, nil
	}
	pipe := r.c.Pipeline()
	cmd := pipe.LRange(ctx, key, 0, int64(n-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap("recent log", err)
	}
	vals := cmd.Val()
	out := make([]LogEntry, len(vals))
	for i, s := range vals {
		out[i] = decodeLog(s)
	}
	return out, nil
}

// BumpAndLog implements [Store.BumpAndLog]. Logs do not count toward
// MaxBytes and are never evicted; each holds at most [LogCap] entries.
func (m *Memory) BumpAndLog(ctx context.Context, tokenKeys []string, logKey string, entry LogEntry) error {
	_, err := m.bumpAndRead(ctx, "bump", tokenKeys, logKey, entry, BumpRead{})
	return err
}

// BumpAndRead implements [Store.BumpAndRead] under one lock acquisition.
func (m *Memory) BumpAndRead(ctx context.Context, tokenKeys []string, logKey string, entry LogEntry, read BumpRead) (BumpResult, error) {
	return m.bumpAndRead(ctx, "bump and read", tokenKeys, logKey, entry, read)
}

// bumpAndRead is BumpAndLog and BumpAndRead, whose errors it names op.
func (m *Memory) bumpAndRead(ctx context.Context, op string, tokenKeys []string, logKey string, entry LogEntry, read BumpRead) (BumpResult, error) {
	if err := ctx.Err(); err != nil {
		return BumpResult{}, wrap(op, err)
	}
	sets := read.Sets
	if len(tokenKeys) == 0 && len(sets) == 0 && len(read.Tokens) == 0 && read.Counter == "" {
		return BumpResult{}, nil
	}
	var v []byte
	if len(tokenKeys) > 0 {
		var err error
		if v, err = encodeLog(entry); err != nil {
			return BumpResult{}, wrap(op, err)
		}
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(tokenKeys) > 0 {
		for _, k := range tokenKeys {
			m.putLocked(newTokenItem(k))
		}
		m.evictLocked()
		m.pushLogLocked(logKey, string(v))
	}
	var out BumpResult
	if read.Counter != "" {
		// A counter is kept as a pinned item, like a token, whose token is the count.
		var n uint64
		if it, ok := m.mu.items[read.Counter]; ok && it.pinned {
			n = it.token
		}
		n++
		v := []byte(strconv.FormatUint(n, 10))
		m.putLocked(&item{key: read.Counter, value: v, pinned: true, token: n})
		out.Counter = n
	}
	if len(sets) > 0 {
		out.Members = make([][]string, len(sets))
		for i, k := range sets {
			if x := m.indexLocked(k, now); x != nil && len(x.members) > 0 {
				out.Members[i] = slices.Collect(maps.Keys(x.members))
			}
		}
	}
	if len(read.Tokens) > 0 {
		out.Tokens = make([]uint64, len(read.Tokens))
		m.tokensLocked(read.Tokens, out.Tokens, now)
	}
	return out, nil
}

// pushLogLocked pushes v onto the front of the log at key, keeping the newest
// [LogCap] entries.
func (m *Memory) pushLogLocked(key, v string) {
	old := m.mu.logs[key]
	l := make([]string, 0, min(len(old)+1, LogCap))
	l = append(l, v)
	l = append(l, old[:min(len(old), LogCap-1)]...)
	m.mu.logs[key] = l
}

// RecentLog implements [Store.RecentLog].
func (m *Memory) RecentLog(ctx context.Context, key string, n int) ([]LogEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap("recent log", err)
	}
	if n <= 0 {
		return nil, nil
	}
	m.mu.Lock()
	l := m.mu.logs[key]
	l = l[:min(n, len(l))]
	m.mu.Unlock()
	out := make([]LogEntry, len(l))
	for i, s := range l {
		out[i] = decodeLog(s)
	}
	return out, nil
}
