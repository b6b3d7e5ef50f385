package cachedsql

import (
	"context"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/keying"
)

// Per-statement statistics: every read event of an engine is counted under its statement's digest
// (keying.DigestOf: literals and IN-list lengths do not count), in memory bounded by maxDigests, and
// a background flusher adds what changed to the store every QueryStatsInterval (querystats_store.go).
// The collector hears the engine through the Observer plumbing: statsObserver passes every event on
// to the application's own Observer, if any, then counts it.

const (
	// defaultQueryStatsInterval is how often a process adds its statistics to Redis by default.
	defaultQueryStatsInterval = 10 * time.Second
	// maxDigests bounds the digests one engine keeps statistics of; the statements of further digests
	// are counted together, under keying.StatsOverflow. At about 3.5 KiB a digest (two histograms and
	// their flushed copies) and a memo of maxStatsMemo texts, an engine keeps at most about 1.5 MiB
	// besides the digests' texts.
	maxDigests = 256
	// maxStatsMemo bounds the memo from a statement's fingerprint (literals included) to its digest's
	// statistics; past it the memo starts over (which costs a digest computation per new text).
	maxStatsMemo = 4096
	// maxWriteTables bounds the tables whose writes are counted one by one; the others are counted
	// together under "*other".
	maxWriteTables = 256
)

// Durations are counted in histograms of fixed log-scale buckets, four per doubling (a bucket spans at
// most 25% of its lower bound, so its middle is within 12% of any duration in it), so that processes
// add them bucket by bucket: bucket 0 holds what is under 1.024µs, the last everything from about 13s.
const qsBuckets = 96

// bucketOf returns the histogram bucket of d.
func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	e := bits.Len64(v)
	if e <= 10 {
		return 0
	}
	i := 1 + (e-11)*4 + int(v>>(e-3)&3)
	return min(i, qsBuckets-1)
}

// bucketValue returns the duration a count in bucket i stands for: the middle of the bucket.
func bucketValue(i int) time.Duration {
	if i <= 0 {
		return 512
	}
	k := i - 1
	shift := uint(11 + k/4 - 3)
	lo, hi := uint64(4+k%4)<<shift, uint64(5+k%4)<<shift
	return time.Duration((lo + hi) / 2)
}

// quantile returns the q-quantile (0 < q ≤ 1) of the durations counted in h, 0 if h is empty.
func quantile(h []int64, q float64) time.Duration {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999)
	var seen int64
	for i, c := range h {
		if seen += c; seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(len(h) - 1)
}

// digestStats are the statistics of one digest in one engine. The counters are cumulative; flushed
// holds what the flusher has added to the store already.
type digestStats struct {
	digest keying.Digest // Fingerprint is keying.StatsOverflow for the overflow bucket
	tables []string      // the tables its first statement reads
	// inexact is set once a statement of the digest had literals replaced (keying.Digest.Exact false).
	inexact atomic.Bool
	rule    atomic.Pointer[string]
	c       statCounters
	// flushed is what the store has received of c; only the flusher uses it. textSent is when the
	// flusher last wrote the digest's text.
	flushed  statCounters
	textSent time.Time
}

// statCounters are the counters of a digest.
type statCounters struct {
	calls, hits, misses, stale atomic.Int64
	bypass                     [numBypassReasons]atomic.Int64
	// dbN counts the queries sent to the database (misses' loads and bypasses), dbNanos their time;
	// hitNanos sums the time of hits.
	dbN, dbNanos, hitNanos, rows, bytes atomic.Int64
	db, hit                             [qsBuckets]atomic.Int64
}

// queryStats collects the statistics of one engine. It is safe for concurrent use.
type queryStats struct {
	e        *engine
	interval time.Duration
	// memo maps a statement's fingerprint (ReadEvent.Fingerprint) to its digest's statistics.
	memo  sync.Map
	memoN atomic.Int64

	// mu guards digests, overflow and writes (the map; its counters are atomic).
	mu       sync.Mutex
	digests  map[string]*digestStats
	overflow *digestStats
	writes   map[string]*tableWrites

	// The flusher starts with the first event (the database's layout is known by then).
	start sync.Once
	// running and closed are guarded by mu.
	running, closed bool
	stop            chan struct{}
	stopped         chan struct{}
}

// tableWrites counts the writes to one table.
type tableWrites struct {
	n, flushed atomic.Int64
}

// newQueryStats returns the collector of e, or nil when statistics are off: by default they are on
// with Redis and off without (there is nowhere to merge them); Options.QueryStatsInterval decides.
func newQueryStats(e *engine) *queryStats {
	iv := e.opts.QueryStatsInterval
	switch {
	case iv < 0 || iv == 0 && e.opts.Redis == nil:
		return nil
	case iv == 0:
		iv = defaultQueryStatsInterval
	}
	return &queryStats{e: e, interval: iv, digests: make(map[string]*digestStats),
		overflow: &digestStats{digest: keying.Digest{Fingerprint: keying.StatsOverflow, Text: overflowText}},
		writes:   make(map[string]*tableWrites), stop: make(chan struct{}), stopped: make(chan struct{})}
}

// overflowText is the text shown for the statements counted past the bound on digests.
const overflowText = "(statements past the bound on digests)"

// observer returns the Observer e uses: one that passes every event to user (nil for none), then
// counts it.
func (qs *queryStats) observer(user Observer) Observer {
	return &statsObserver{user: user, qs: qs}
}

// statsOf returns the statistics of the digest of the statement with fingerprint fp and text query.
func (qs *queryStats) statsOf(fp, query string) *digestStats {
	if v, ok := qs.memo.Load(fp); ok {
		return v.(*digestStats)
	}
	d, ok := digestOf(query)
	qs.mu.Lock()
	s := qs.digests[d.Fingerprint]
	switch {
	case s != nil:
	case ok && len(qs.digests) < maxDigests:
		s = &digestStats{digest: d, tables: readsOf(query)} // once per digest
		qs.digests[d.Fingerprint] = s
	default:
		s = qs.overflow
	}
	qs.mu.Unlock()
	if !d.Exact {
		s.inexact.Store(true)
	}
	if fp == "" { // a statement whose analysis failed: not memoized
		return s
	}
	if qs.memoN.Add(1) > maxStatsMemo {
		qs.memo.Clear()
		qs.memoN.Store(1)
	}
	qs.memo.Store(fp, s)
	return s
}

// digestOf returns the digest of query. If it panics (a defect of package keying, which its fuzzing has
// not found), it reports false: the statement is counted in the overflow bucket, and the application
// goes on.
func digestOf(query string) (d keying.Digest, ok bool) {
	defer func() {
		if recover() != nil {
			d, ok = keying.Digest{Fingerprint: keying.StatsOverflow}, false
		}
	}()
	return keying.DigestOf(query), true
}

// readsOf returns the tables query reads (none if analysis panics, as digestOf).
func readsOf(query string) (tables []string) {
	defer func() {
		if recover() != nil {
			tables = nil
		}
	}()
	return keying.Analyze(query).Reads
}

// read counts one read event.
func (qs *queryStats) read(ev *ReadEvent) {
	qs.start.Do(qs.startFlusher)
	s := qs.statsOf(ev.Fingerprint, ev.Query)
	if r := s.rule.Load(); ev.Rule != "" && (r == nil || *r != ev.Rule) {
		name := ev.Rule
		s.rule.Store(&name)
	}
	c := &s.c
	c.calls.Add(1)
	switch ev.Outcome {
	case OutcomeHit:
		c.hits.Add(1)
		c.hitNanos.Add(int64(ev.Duration))
		c.hit[bucketOf(ev.Duration)].Add(1)
	case OutcomeMiss:
		c.misses.Add(1)
	case OutcomeStale:
		c.stale.Add(1)
	case OutcomeBypass:
		if ev.Bypass < numBypassReasons {
			c.bypass[ev.Bypass].Add(1)
		}
	}
}

// query counts the database time of one query a read sent to the database. Background loads
// (refreshes, write-through) are no read's: they are left out.
func (qs *queryStats) query(ev *QueryEvent) {
	if ev.Background {
		return
	}
	c := &qs.statsOf(ev.Fingerprint, ev.Query).c
	c.dbN.Add(1)
	c.dbNanos.Add(int64(ev.Duration))
	c.db[bucketOf(ev.Duration)].Add(1)
	c.rows.Add(int64(ev.Rows))
	c.bytes.Add(int64(ev.Bytes))
}

// invalidate counts the writes of one invalidation: one per table, "*" for the whole database.
func (qs *queryStats) invalidate(ev *InvalidateEvent) {
	qs.start.Do(qs.startFlusher)
	tables := ev.Tables
	if tables == nil {
		tables = []string{"*"}
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	for _, t := range tables {
		w := qs.writes[t]
		if w == nil {
			if len(qs.writes) >= maxWriteTables {
				t = "*other"
				w = qs.writes[t]
			}
			if w == nil {
				w = new(tableWrites)
				qs.writes[t] = w
			}
		}
		w.n.Add(1)
	}
}

// snapshot returns the statistics of every digest, in no order, the overflow bucket included when it
// counted something.
func (qs *queryStats) snapshot() []*digestStats {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	out := make([]*digestStats, 0, len(qs.digests)+1)
	for _, s := range qs.digests {
		out = append(out, s)
	}
	if qs.overflow.c.calls.Load() > 0 || qs.overflow.c.dbN.Load() > 0 {
		out = append(out, qs.overflow)
	}
	return out
}

// statOf returns the figures of s as a QueryStat of the database id.
func (s *digestStats) statOf(id DatabaseID) QueryStat {
	c := &s.c
	q := QueryStat{Database: id, Fingerprint: s.digest.Fingerprint, Text: s.digest.Text,
		Exact: !s.inexact.Load(), Tables: slices.Clone(s.tables),
		Calls: c.calls.Load(), Hits: c.hits.Load(), Misses: c.misses.Load(), Stale: c.stale.Load(),
		Queries: c.dbN.Load(), DBTime: time.Duration(c.dbNanos.Load()), HitTime: time.Duration(c.hitNanos.Load()),
		Rows: c.rows.Load(), Bytes: c.bytes.Load()}
	if r := s.rule.Load(); r != nil {
		q.Rule = *r
	}
	for i := range c.bypass {
		if n := c.bypass[i].Load(); n > 0 {
			if q.Bypasses == nil {
				q.Bypasses = make(map[BypassReason]int64)
			}
			q.Bypasses[BypassReason(i)] = n
		}
	}
	db, hit := make([]int64, qsBuckets), make([]int64, qsBuckets)
	for i := range qsBuckets {
		db[i], hit[i] = c.db[i].Load(), c.hit[i].Load()
	}
	q.setQuantiles(db, hit)
	return q
}

// statsObserver is the Observer of an engine that keeps statistics: it passes each event to the
// application's Observer, if any, then counts it.
type statsObserver struct {
	user Observer
	qs   *queryStats
}

var (
	_ QueryObserver      = (*statsObserver)(nil)
	_ InvalidateObserver = (*statsObserver)(nil)
	_ StoreErrorObserver = (*statsObserver)(nil)
	_ StampedeObserver   = (*statsObserver)(nil)
)

func (o *statsObserver) ObserveRead(ctx context.Context, ev ReadEvent) {
	if o.user != nil {
		o.user.ObserveRead(ctx, ev)
	}
	o.qs.read(&ev)
}

func (o *statsObserver) ObserveQuery(ctx context.Context, ev QueryEvent) {
	if u, ok := o.user.(QueryObserver); ok {
		u.ObserveQuery(ctx, ev)
	}
	o.qs.query(&ev)
}

func (o *statsObserver) ObserveInvalidate(ctx context.Context, ev InvalidateEvent) {
	if u, ok := o.user.(InvalidateObserver); ok {
		u.ObserveInvalidate(ctx, ev)
	}
	o.qs.invalidate(&ev)
}

func (o *statsObserver) ObserveStoreError(ctx context.Context, ev StoreErrorEvent) {
	if u, ok := o.user.(StoreErrorObserver); ok {
		u.ObserveStoreError(ctx, ev)
	}
}

func (o *statsObserver) ObserveStampede(ctx context.Context, ev StampedeEvent) {
	if u, ok := o.user.(StampedeObserver); ok {
		u.ObserveStampede(ctx, ev)
	}
}
