package cachedsql

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/keying"
)

// How the statistics of a process are merged into Redis: every QueryStatsInterval, one pipeline of
// single-key commands (so a Redis Cluster splits it by slot) adds what changed since the last flush to
// one hash per digest and database (keying.Layout.Stats) with HINCRBY, counters and histogram buckets
// alike, and records the digest in the database's index (keying.Layout.StatsIndex), a sorted set by
// time of last update trimmed to maxStoredDigests. Every key expires statsTTL after its last update.
// A flush is sent at most once: if it fails, its counts are lost, never counted twice.

const (
	// statsTTL is how long the statistics of a digest outlive its last update.
	statsTTL = 24 * time.Hour
	// maxStoredDigests bounds the digests a database's index lists: past it, those updated least
	// recently are dropped from it (their hashes expire statsTTL after their last update).
	maxStoredDigests = 1000
	// statsFlushTimeout bounds one flush.
	statsFlushTimeout = time.Second
	// statsTextEvery is how often a process writes again the text of a digest it has written.
	statsTextEvery = time.Hour
)

// Fields of a statistics hash.
const (
	fieldCalls    = "calls"
	fieldHits     = "hits"
	fieldMisses   = "misses"
	fieldStale    = "stale"
	fieldQueries  = "dbn"
	fieldDBTime   = "dbt"
	fieldHitTime  = "hitt"
	fieldRows     = "rows"
	fieldBytes    = "bytes"
	fieldText     = "text"
	fieldTables   = "tables"
	fieldRule     = "rule"
	fieldExact    = "exact"
	fieldSince    = "since"
	prefixBypass  = "b:" // then the reason's name
	prefixDBHist  = "d:" // then the bucket
	prefixHitHist = "h:"
	prefixTable   = "t:" // in the writes hash: then the table
)

// startFlusher starts the flusher, once statistics have something to flush. It runs on the goroutine
// of the first event, after the engine's layout was set.
func (qs *queryStats) startFlusher() {
	if qs.e.opts.Redis == nil {
		return
	}
	layout := qs.e.layout
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.closed {
		return
	}
	qs.running = true
	go qs.loop(layout)
}

// loop flushes every interval until close, then once more.
func (qs *queryStats) loop(l keying.Layout) {
	defer close(qs.stopped)
	t := time.NewTicker(qs.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			qs.flush(l, statsFlushTimeout)
		case <-qs.stop: // Close waits for it: bound it as Close's last delivery of invalidations is
			qs.flush(l, qs.e.opts.InvalidateTimeout)
			return
		}
	}
}

// close stops the flusher after a last flush, and waits for it.
func (qs *queryStats) close() {
	if qs == nil {
		return
	}
	qs.mu.Lock()
	qs.closed = true
	running := qs.running
	qs.mu.Unlock()
	if running {
		close(qs.stop)
		<-qs.stopped
	}
}

// flush adds to the store what changed since the last flush, within timeout.
func (qs *queryStats) flush(l keying.Layout, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	now := time.Now()
	since := strconv.FormatInt(now.Unix(), 10)
	pipe := qs.e.opts.Redis.Pipeline()
	var members []redis.Z
	for _, s := range qs.snapshot() {
		key := l.Stats(s.digest.Fingerprint)
		if !s.flushInto(ctx, pipe, key, now) {
			continue
		}
		pipe.HSetNX(ctx, key, fieldSince, since)
		pipe.Expire(ctx, key, statsTTL)
		if s.digest.Fingerprint != keying.StatsOverflow {
			members = append(members, redis.Z{Score: float64(now.Unix()), Member: s.digest.Fingerprint})
		}
	}
	if len(members) > 0 {
		pipe.ZAdd(ctx, l.StatsIndex(), members...)
		pipe.ZRemRangeByRank(ctx, l.StatsIndex(), 0, -maxStoredDigests-1)
		pipe.Expire(ctx, l.StatsIndex(), statsTTL)
	}
	if qs.flushWrites(ctx, pipe, l.StatsWrites()) {
		pipe.HSetNX(ctx, l.StatsWrites(), fieldSince, since)
		pipe.Expire(ctx, l.StatsWrites(), statsTTL)
	}
	if pipe.Len() == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil {
		qs.e.log.Debug("cachedsql: query statistics not stored", "err", err)
	}
}

// flushInto queues on pipe the HINCRBYs of what s counted since its last flush, at key, and reports
// whether there was anything. Only the flusher calls it.
func (s *digestStats) flushInto(ctx context.Context, pipe redis.Pipeliner, key string, now time.Time) bool {
	c, f := &s.c, &s.flushed
	any := false
	delta := func(field string, cur, done *atomic.Int64) {
		v := cur.Load()
		if d := v - done.Load(); d != 0 {
			pipe.HIncrBy(ctx, key, field, d)
			done.Store(v)
			any = true
		}
	}
	delta(fieldCalls, &c.calls, &f.calls)
	delta(fieldHits, &c.hits, &f.hits)
	delta(fieldMisses, &c.misses, &f.misses)
	delta(fieldStale, &c.stale, &f.stale)
	delta(fieldQueries, &c.dbN, &f.dbN)
	delta(fieldDBTime, &c.dbNanos, &f.dbNanos)
	delta(fieldHitTime, &c.hitNanos, &f.hitNanos)
	delta(fieldRows, &c.rows, &f.rows)
	delta(fieldBytes, &c.bytes, &f.bytes)
	for i := range c.bypass {
		delta(prefixBypass+BypassReason(i).String(), &c.bypass[i], &f.bypass[i])
	}
	for i := range qsBuckets {
		delta(prefixDBHist+strconv.Itoa(i), &c.db[i], &f.db[i])
		delta(prefixHitHist+strconv.Itoa(i), &c.hit[i], &f.hit[i])
	}
	if !any {
		return false
	}
	if r := s.rule.Load(); r != nil {
		pipe.HSet(ctx, key, fieldRule, *r)
	}
	if s.inexact.Load() {
		pipe.HSet(ctx, key, fieldExact, "0")
	} else {
		pipe.HSetNX(ctx, key, fieldExact, "1")
	}
	if now.Sub(s.textSent) >= statsTextEvery {
		pipe.HSet(ctx, key, fieldText, s.digest.Text, fieldTables, strings.Join(s.tables, ","))
		s.textSent = now
	}
	return true
}

// flushWrites queues on pipe the HINCRBYs of the writes counted since the last flush, at key, and
// reports whether there were any.
func (qs *queryStats) flushWrites(ctx context.Context, pipe redis.Pipeliner, key string) bool {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	any := false
	for t, w := range qs.writes {
		if d := w.n.Load() - w.flushed.Load(); d != 0 {
			pipe.HIncrBy(ctx, key, prefixTable+t, d)
			w.flushed.Add(d)
			any = true
		}
	}
	return any
}
