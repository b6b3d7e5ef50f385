package strategies

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Background work of the read path: revalidating entries served stale (stale_while_revalidate) and
// refreshing hot entries before they expire (refresh-ahead). What a refresh does is the caller's
// (Refresher.Run: the root makes an ordinary read through the cache, so it takes the same flight, lease
// and generation checks as any fill); when it runs is decided here. A refresh never waits for another
// process's fill, at most MaxRefreshes run at once, and one key is refreshed once at a time, so the
// refresher cannot become a load of its own.

// MaxRefreshes is the number of refreshes a Refresher runs at once.
const MaxRefreshes = 2

const (
	maxHotKeys     = 4096             // hot-key candidates tracked per cache
	refreshTimeout = 30 * time.Second // bounds one refresh
	// scanInterval is how often refresh-ahead looks for hot entries close to expiry.
	scanInterval = 100 * time.Millisecond
)

// Feeding the shared hot sets: every feedEvery scans, the hits counted in this process since the last
// feed go, per rule, into a sorted set in the store whose scores are first multiplied by hotDecay, so
// that a score is about the hits of the last two feeds and all processes add to one picture. The same
// hits, summed by statement, go into a second set per rule, so that a tool can say which statements the
// hot entries are of.
const (
	feedEvery    = 10  // scans between feeds (about a second)
	hotDecay     = 0.5 // weight of the old scores at each feed
	minHotSetTTL = time.Minute
)

// HotStore is what refresh-ahead needs of a store: the hot sets its processes share.
type HotStore interface {
	AddHot(ctx context.Context, key string, hits map[string]float64, decay float64, ttl time.Duration) error
}

// Timers tells the time and starts timers (the refresh-ahead scanner waits on it; tests move it).
type Timers interface {
	Clock
	Timer
}

// HotPolicy is how the entries of one statement under a rule take part in refresh-ahead.
type HotPolicy struct {
	// Set is the key of the hot set of the rule's entries, Queries that of the rule's statements, in
	// which Query names this statement.
	Set, Queries, Query string
	// TTL is the rule's TTL: the sets outlive their last feed by ten of them (at least a minute), and a
	// hot entry is refreshed at least a tenth of it before it expires.
	TTL time.Duration
	// Ahead: hot entries are refreshed before they expire, once hit HotHits times since their last
	// fill (refresh_ahead). Otherwise they are tracked for their hits only (for write-through).
	Ahead   bool
	HotHits int
}

// setTTL is how long a rule's hot sets outlive their last feed.
func (p *HotPolicy) setTTL() time.Duration { return max(10*p.TTL, minHotSetTTL) }

// margin is how long before expiry a hot entry measured to take delta to compute is refreshed: a tenth
// of its TTL, and at least three times its query time and two scan intervals.
func (p *HotPolicy) margin(delta time.Duration) time.Duration {
	return max(p.TTL/10, 3*delta, 2*scanInterval)
}

// hotEntry is what refresh-ahead knows of one entry.
type hotEntry[S any] struct {
	subject S
	policy  *HotPolicy
	hits    atomic.Int64 // since the entry was last filled
	fed     atomic.Int64 // since the last feed of the rule's hot set
	expires atomic.Int64 // Unix ns of the entry's expiry, as last seen
	delta   atomic.Int64 // the entry's measured query time
}

// Refresher runs the background refreshes of one cache, of entries the caller describes by an S (the
// root's: a plan and its arguments). Set its fields, then Init; it is then safe for concurrent use.
// Close stops it and waits for its goroutines.
type Refresher[S any] struct {
	// Run refreshes the entry that s describes, within ctx; it reports whether the refresh completed.
	Run func(ctx context.Context, s S) bool
	// Clock times expiry and the scanner. Store and Health take the feeds of the hot sets, each bounded
	// by FeedTimeout (0: none, for an in-process store).
	Clock       Timers
	Store       HotStore
	Health      Health
	FeedTimeout time.Duration
	// BeforeRefresh, a test hook, runs when a refresh is asked for (nil in production).
	BeforeRefresh func()

	// Goroutines run on ctx, which Close cancels; Close waits for them. They start only through
	// goBackground, which Close makes refuse: a read arriving during Close can start nothing that Close
	// would not wait for.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}
	// mu guards closed, and orders every wg.Add before Close's wg.Wait.
	mu     sync.Mutex
	closed bool

	// inflight dedups refreshes of one key in this process.
	inflight sync.Map // entry key → struct{}

	// hot tracks candidates for refresh-ahead: entries that were hit.
	hot      sync.Map // entry key → *hotEntry[S]
	hotCount atomic.Int64
	scanOnce sync.Once
}

// Init prepares r for use.
func (r *Refresher[S]) Init() {
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.sem = make(chan struct{}, MaxRefreshes)
}

// Close stops the refreshes and the scanner, and waits for them.
func (r *Refresher[S]) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// goBackground runs f in a goroutine that Close waits for, and reports false (running nothing) once
// Close has begun.
func (r *Refresher[S]) goBackground(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// Refresh refreshes the entry at key, described by s, in the background, unless a refresh of it is
// running or the refresher is busy (it is best effort: a later read tries again).
func (r *Refresher[S]) Refresh(key string, s S) {
	if r.ctx.Err() != nil {
		return
	}
	if r.BeforeRefresh != nil {
		r.BeforeRefresh()
	}
	if _, running := r.inflight.LoadOrStore(key, struct{}{}); running {
		return
	}
	select {
	case r.sem <- struct{}{}:
	default:
		r.inflight.Delete(key)
		return
	}
	release := func() { <-r.sem; r.inflight.Delete(key) }
	started := r.goBackground(func() {
		defer release()
		ctx, cancel := context.WithTimeout(r.ctx, refreshTimeout)
		defer cancel()
		r.Run(ctx, s)
	})
	if !started {
		release()
	}
}

// Touch counts a hit of the entry at key, under policy, which expires at expires and took delta to
// compute. The first hit of an entry describes it with subject() and starts the scanner; past
// maxHotKeys tracked entries, new ones are not tracked.
func (r *Refresher[S]) Touch(key string, policy *HotPolicy, subject func() S, expires time.Time, delta time.Duration) {
	v, ok := r.hot.Load(key)
	if !ok {
		if r.hotCount.Load() >= maxHotKeys {
			return
		}
		if v, ok = r.hot.LoadOrStore(key, &hotEntry[S]{subject: subject(), policy: policy}); !ok {
			r.hotCount.Add(1)
			r.scanOnce.Do(r.startScanner)
		}
	}
	h := v.(*hotEntry[S])
	h.hits.Add(1)
	h.fed.Add(1)
	h.expires.Store(expires.UnixNano())
	h.delta.Store(int64(delta))
}

// Hot returns the subject of the tracked entry at key.
func (r *Refresher[S]) Hot(key string) (S, bool) {
	v, ok := r.hot.Load(key)
	if !ok {
		var zero S
		return zero, false
	}
	return v.(*hotEntry[S]).subject, true
}

// startScanner runs the refresh-ahead loop until Close.
func (r *Refresher[S]) startScanner() {
	r.goBackground(func() {
		for n := 1; ; n++ {
			tick, stop := r.Clock.NewTimer(scanInterval)
			select {
			case <-r.ctx.Done():
				stop()
				return
			case <-tick:
				if n%feedEvery == 0 {
					r.feed()
				}
				r.scan()
			}
		}
	})
}

// scan refreshes the hot entries that expire within their refresh margin, and forgets entries that
// expired without becoming hot.
func (r *Refresher[S]) scan() {
	now := r.Clock.Now().UnixNano()
	r.hot.Range(func(k, v any) bool {
		h := v.(*hotEntry[S])
		exp, pol := h.expires.Load(), h.policy
		switch {
		case now >= exp:
			r.hot.Delete(k)
			r.hotCount.Add(-1)
		case pol.Ahead && exp-now <= int64(pol.margin(time.Duration(h.delta.Load()))) && h.hits.Load() >= int64(pol.HotHits):
			h.hits.Store(0)
			r.Refresh(k.(string), h.subject)
		}
		return true
	})
}

// feed adds the hits counted since the last feed to the hot sets of each rule with tracked entries (a
// rule whose entries had no hit is fed too, so that its scores decay). A store failure is recorded and
// the hits are dropped: the scores are an estimate, and the next feed carries on.
func (r *Refresher[S]) feed() {
	if !r.Health.Allow() {
		return
	}
	type sets struct {
		policy           *HotPolicy
		entries, queries map[string]float64
	}
	byRule := make(map[string]*sets)
	r.hot.Range(func(k, v any) bool {
		h := v.(*hotEntry[S])
		s := byRule[h.policy.Set]
		if s == nil {
			s = &sets{policy: h.policy, entries: make(map[string]float64), queries: make(map[string]float64)}
			byRule[h.policy.Set] = s
		}
		if n := h.fed.Swap(0); n > 0 {
			s.entries[k.(string)] = float64(n)
			s.queries[h.policy.Query] += float64(n)
		}
		return true
	})
	for _, s := range byRule {
		if r.ctx.Err() != nil {
			return
		}
		ctx, cancel := r.ctx, context.CancelFunc(func() {})
		if r.FeedTimeout > 0 {
			ctx, cancel = context.WithTimeout(r.ctx, r.FeedTimeout)
		}
		err := r.Store.AddHot(ctx, s.policy.Set, s.entries, hotDecay, s.policy.setTTL())
		if err == nil {
			err = r.Store.AddHot(ctx, s.policy.Queries, s.queries, hotDecay, s.policy.setTTL())
		}
		cancel()
		if err != nil && r.ctx.Err() != nil {
			return // closing
		}
		if err != nil {
			r.Health.StoreFailed(r.ctx, "add hot", err)
			continue
		}
		r.Health.StoreOK()
	}
}
