package store

import (
	"context"
	"encoding/json"
	"time"
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
	if len(tokenKeys) == 0 {
		return nil
	}
	v, err := encodeLog(entry)
	if err != nil {
		return wrap("bump", err)
	}
	pipe := r.c.Pipeline()
	for _, k := range tokenKeys {
		enc := encodeToken(newToken())
		pipe.Set(ctx, k, enc[:], 0)
	}
	pipe.LPush(ctx, logKey, v)
	pipe.LTrim(ctx, logKey, 0, LogCap-1)
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap("bump", err)
	}
	return nil
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
	if err := ctx.Err(); err != nil {
		return wrap("bump", err)
	}
	if len(tokenKeys) == 0 {
		return nil
	}
	v, err := encodeLog(entry)
	if err != nil {
		return wrap("bump", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range tokenKeys {
		m.putLocked(newTokenItem(k))
	}
	m.evictLocked()
	old := m.mu.logs[logKey]
	l := make([]string, 0, min(len(old)+1, LogCap))
	l = append(l, string(v))
	l = append(l, old[:min(len(old), LogCap-1)]...)
	m.mu.logs[logKey] = l
	return nil
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
