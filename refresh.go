package cachedsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/keying"
	"github.com/cachedsql/cachedsql/strategies"
)

// Background work: revalidating entries served stale (stale_while_revalidate) and refreshing hot
// entries before they expire (refresh_ahead). A refresh is an ordinary read through this cache, made
// on a small *sql.DB of its own with WithRefresh, so it takes the same flight, lease and generation
// checks as any fill. It never waits for another process's fill, and at most maxRefreshes run at
// once, so the refresher cannot become a load of its own.

const (
	maxRefreshes   = 2                // refreshes running at once per cache
	maxHotKeys     = 4096             // hot-key candidates tracked per cache
	refreshTimeout = 30 * time.Second // bounds one refresh
)

// background runs refreshes. Its goroutines run on ctx, which close cancels; close waits for them.
// Goroutines start only through go, which close makes refuse: a read arriving during close can start
// nothing that close would not wait for, and so can open no refresh DB after close has closed it.
type background struct {
	open func() *sql.DB // opens the refresh DB (set by the Connector)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	// mu guards closed, and orders every wg.Add before close's wg.Wait.
	mu     sync.Mutex
	closed bool

	dbOnce sync.Once
	db     *sql.DB

	// inflight dedups refreshes of one key in this process.
	inflight sync.Map // entry key → struct{}

	// hot tracks candidates for refresh-ahead: entries of refresh_ahead rules that were hit.
	hot      sync.Map // entry key → *hotKey
	hotCount atomic.Int64
	scanOnce sync.Once
}

// hotKey is what refresh-ahead knows of one entry.
type hotKey struct {
	p       *plan
	args    []any
	nargs   []driver.NamedValue // args as the driver got them, for write-through on a parent connection
	hits    atomic.Int64        // since the entry was last filled
	fed     atomic.Int64        // since the last feed of the rule's hot set
	expires atomic.Int64        // Unix ns of the entry's expiry, as last seen
	delta   atomic.Int64        // the entry's measured query time
}

func (bg *background) init() {
	bg.ctx, bg.cancel = context.WithCancel(context.Background())
	bg.sem = make(chan struct{}, maxRefreshes)
}

func (bg *background) close() {
	bg.mu.Lock()
	bg.closed = true
	bg.mu.Unlock()
	bg.cancel()
	bg.wg.Wait()
	bg.dbOnce.Do(func() {}) // nothing opens the refresh DB from now on
	if bg.db != nil {
		bg.db.Close()
	}
}

// goBackground runs f in a goroutine that close waits for, and reports false (running nothing) once
// close has begun.
func (bg *background) goBackground(f func()) bool {
	bg.mu.Lock()
	defer bg.mu.Unlock()
	if bg.closed {
		return false
	}
	bg.wg.Add(1)
	go func() {
		defer bg.wg.Done()
		f()
	}()
	return true
}

func (bg *background) sqlDB() *sql.DB {
	bg.dbOnce.Do(func() {
		if bg.open != nil {
			bg.db = bg.open()
			bg.db.SetMaxOpenConns(maxRefreshes)
		}
	})
	return bg.db
}

// refreshArgs refreshes the entry at key in the background, unless a refresh of it is running or the
// refresher is busy (it is best effort: a later read tries again).
func (e *engine) refreshArgs(p *plan, key string, args []any) {
	bg := &e.bg
	if bg.ctx.Err() != nil {
		return
	}
	hook(e.opts.test.beforeRefresh)
	if _, running := bg.inflight.LoadOrStore(key, struct{}{}); running {
		return
	}
	select {
	case bg.sem <- struct{}{}:
	default:
		bg.inflight.Delete(key)
		return
	}
	release := func() { <-bg.sem; bg.inflight.Delete(key) }
	started := bg.goBackground(func() {
		defer release()
		db := bg.sqlDB()
		if db == nil {
			return
		}
		ctx, cancel := context.WithTimeout(withControl(bg.ctx, func(c *control) {
			c.refresh, c.background = true, true
		}), refreshTimeout)
		defer cancel()
		rows, err := db.QueryContext(ctx, p.st.Query, args...)
		if err != nil {
			return
		}
		for rows.Next() {
		}
		if rows.Close() == nil && rows.Err() == nil {
			p.Stampede(ctx, strategies.Refreshed, 0)
		}
	})
	if !started {
		release()
	}
}

// sqlArgs turns a statement's driver arguments back into database/sql arguments, copying []byte values
// (the caller may reuse them once its statement has returned).
func sqlArgs(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		v := a.Value
		if b, ok := v.([]byte); ok && b != nil {
			v = append([]byte(nil), b...)
		}
		if a.Name != "" {
			out[i] = sql.Named(a.Name, v)
		} else {
			out[i] = v
		}
	}
	return out
}

// copyArgs copies a statement's driver arguments, and their []byte values.
func copyArgs(args []driver.NamedValue) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		if b, ok := a.Value.([]byte); ok && b != nil {
			a.Value = append([]byte(nil), b...)
		}
		out[i] = a
	}
	return out
}

// touchHot counts a hit of an entry of a refresh_ahead rule.
func (e *engine) touchHot(p *plan, key string, expires time.Time, delta time.Duration, args []driver.NamedValue) {
	if !p.rule.RefreshAhead && !(p.rule.WriteThrough && p.row == nil) {
		return
	}
	bg := &e.bg
	v, ok := bg.hot.Load(key)
	if !ok {
		if bg.hotCount.Load() >= maxHotKeys {
			return
		}
		hk := &hotKey{p: p, args: sqlArgs(args), nargs: copyArgs(args)}
		if v, ok = bg.hot.LoadOrStore(key, hk); !ok {
			bg.hotCount.Add(1)
			bg.scanOnce.Do(e.startScanner)
		}
	}
	hk := v.(*hotKey)
	hk.hits.Add(1)
	hk.fed.Add(1)
	hk.expires.Store(expires.UnixNano())
	hk.delta.Store(int64(delta))
}

// startScanner runs the refresh-ahead loop until the cache is closed.
func (e *engine) startScanner() {
	bg := &e.bg
	bg.goBackground(func() {
		for n := 1; ; n++ {
			tick, stop := e.clock.NewTimer(scanInterval) // on the engine's clock: a test moves it
			select {
			case <-bg.ctx.Done():
				stop()
				return
			case <-tick:
				if n%feedEvery == 0 {
					e.feedHot()
				}
				e.scanHot()
			}
		}
	})
}

// scanInterval is how often refresh-ahead looks for hot entries close to expiry.
const scanInterval = 100 * time.Millisecond

// Feeding the shared hot sets: every feedEvery scans, the hits counted in this process since the last
// feed go, per rule, into a sorted set in the store whose scores are first multiplied by hotDecay, so
// that a score is about the hits of the last two feeds and all processes add to one picture.
const (
	feedEvery    = 10  // scans between feeds (about a second)
	hotDecay     = 0.5 // weight of the old scores at each feed
	minHotSetTTL = time.Minute
)

// hotSetKey is the key of the sorted set of the hot entries of the rule named name in this database.
func (e *engine) hotSetKey(name string) string {
	return e.layout.Hot(name)
}

// hotSetTTL is how long a rule's hot set outlives its last feed: ten TTLs of the rule, at least a minute.
func hotSetTTL(r *Rule) time.Duration {
	return max(10*r.TTL, minHotSetTTL)
}

// feedHot adds the hits counted since the last feed to the hot set of each rule with tracked entries
// (a rule whose entries had no hit is fed too, so that its scores decay). A store failure is recorded
// and the hits are dropped: the scores are an estimate, and the next feed carries on.
func (e *engine) feedHot() {
	if !e.breaker.Allow(e.now()) {
		return
	}
	byRule := make(map[*Rule]map[string]float64)
	queries := make(map[*Rule]map[string]float64) // the same hits by statement (hot_queries.go)
	e.bg.hot.Range(func(k, v any) bool {
		hk := v.(*hotKey)
		hits := byRule[hk.p.rule]
		if hits == nil {
			hits = make(map[string]float64)
			byRule[hk.p.rule] = hits
		}
		if n := hk.fed.Swap(0); n > 0 {
			hits[k.(string)] = float64(n)
			queries[hk.p.rule] = addHotQuery(queries[hk.p.rule], hk.p.st, n)
		}
		return true
	})
	for r, hits := range byRule {
		if e.bg.ctx.Err() != nil {
			return
		}
		ctx, cancel := e.feedCtx()
		err := e.st.AddHot(ctx, e.hotSetKey(r.Name), hits, hotDecay, hotSetTTL(r))
		if err == nil {
			err = e.st.AddHot(ctx, e.layout.HotQueries(r.Name), queries[r], hotDecay, hotSetTTL(r))
		}
		cancel()
		if err != nil && e.bg.ctx.Err() != nil {
			return // closing
		}
		if err != nil {
			e.StoreFailed(e.bg.ctx, "add hot", err)
			continue
		}
		e.StoreOK()
	}
}

// feedCtx bounds one feed round trip, which may carry thousands of members: as a token replacement.
func (e *engine) feedCtx() (context.Context, context.CancelFunc) {
	if e.local {
		return e.bg.ctx, func() {}
	}
	return context.WithTimeout(e.bg.ctx, e.opts.InvalidateTimeout)
}

// scanHot refreshes the hot entries that expire within their refresh margin, and forgets entries that
// expired without becoming hot.
func (e *engine) scanHot() {
	now := e.now().UnixNano()
	e.bg.hot.Range(func(k, v any) bool {
		hk := v.(*hotKey)
		exp := hk.expires.Load()
		switch {
		case now >= exp:
			e.bg.hot.Delete(k)
			e.bg.hotCount.Add(-1)
		case hk.p.rule.RefreshAhead && exp-now <= int64(refreshMargin(hk.p.rule, time.Duration(hk.delta.Load()))) &&
			hk.hits.Load() >= int64(hk.p.rule.HotHits):
			hk.hits.Store(0)
			e.refreshArgs(hk.p, k.(string), hk.args)
		}
		return true
	})
}

// refreshMargin is how long before expiry a hot entry is refreshed: a tenth of its TTL, and at least
// three times its measured query time and two scan intervals.
func refreshMargin(r *Rule, delta time.Duration) time.Duration {
	return max(r.TTL/10, 3*delta, 2*scanInterval)
}

// Warm fills the cache of db, which must have been opened by this package, with the results of
// statements: each is queried on the database (as with [WithRefresh]) and its result stored under its
// rule. Statements no rule caches are run and reported as not cached. A statement that is not a read
// (an UPDATE, a read with a writable CTE or that calls a volatile function) is refused before any
// statement runs. It stops at the first error.
func Warm(ctx context.Context, db *sql.DB, stmts ...WarmStatement) (WarmReport, error) {
	var rep WarmReport
	d, ok := db.Driver().(*connectorDriver)
	if !ok {
		return rep, errNotCaching
	}
	for _, s := range stmts {
		if p := d.eng.plans.get(s.Query); p.st.Kind != keying.KindRead || len(p.writeKeys) > 0 || p.session {
			return rep, fmt.Errorf("cachedsql: Warm: not a read, not run: %q", s.Query)
		}
	}
	before, _ := StatsOf(db)
	for _, s := range stmts {
		rows, err := db.QueryContext(WithRefresh(ctx), s.Query, s.Args...)
		if err != nil {
			return rep, err
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			return rep, err
		}
		if err := rows.Err(); err != nil {
			return rep, err
		}
		rep.Statements++
	}
	after, _ := StatsOf(db)
	rep.Filled = int(after.Fills - before.Fills)
	return rep, nil
}

// WarmStatement is one statement for [Warm]: the query text and its arguments.
type WarmStatement struct {
	Query string
	Args  []any
}

// WarmReport says what [Warm] did.
type WarmReport struct {
	Statements int // statements run
	Filled     int // results stored (the others are not cached by any rule, or not storable)
}
