package cachedsql

import (
	"context"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
	"github.com/cachedsql/cachedsql/lockstore"
)

// engine is the cache behind one connector: one database identity, one store, one rule set.
// It implements wrap.Interceptor. It is safe for concurrent use.
type engine struct {
	opts Options
	st   store.Store
	// layout names generation tokens and the epoch; entries names cached results.
	layout  keying.Layout
	entries keying.Layout
	// rowTokenPrefix starts the key of every row token of this database.
	rowTokenPrefix string
	rules          *Rules
	log            *slog.Logger
	now            func() time.Time
	// local: the store is in process memory (no I/O, no timeouts needed).
	local bool

	plans  planCache
	cat    catalogState
	stats  stats
	health health

	// Stampede control: single flight, fill leases, the backoff of lease waiters, XFetch's random
	// source (tests inject them), and the background refresher.
	flight  lockstore.Group
	leases  lockstore.Leases
	backoff lockstore.Backoff
	rand    func() float64
	bg      background

	// ks knows the key column sets of row entries per table; wt the write-through rules.
	ks keySetState
	wt writeThroughs

	closeOnce sync.Once
}

// newEngine makes the cache of one database. parent is the driver whose values entries hold: entries
// are keyed by its type as well as by the database, since another driver returns other Go types for the
// same rows, while generation tokens are shared by every driver reaching the database.
func newEngine(opts Options, driverName, dsn string, parent driver.Driver) (*engine, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	id := identityFor(opts, driverName, dsn)
	e := &engine{
		opts:    opts,
		layout:  keying.NewLayout(opts.Namespace, id),
		entries: keying.NewLayout(opts.Namespace, id+"\x00driver "+fmt.Sprintf("%T", parent)),
		rules:   opts.Rules,
		log:     opts.Logger,
		now:     time.Now,
	}
	switch {
	case opts.testStore != nil:
		e.st = opts.testStore
		e.leases = lockstore.NewMemory(nil)
	case opts.Redis != nil:
		e.st = store.NewRedis(opts.Redis)
		e.leases = lockstore.NewRedis(opts.Redis)
	default:
		e.st = store.NewMemory(store.MemoryOptions{MaxBytes: opts.MemoryMaxBytes})
		e.leases = lockstore.NewMemory(nil)
		e.local = true
	}
	e.rand = rand.Float64
	if opts.test.now != nil {
		e.now = opts.test.now
	}
	if opts.test.rand != nil {
		e.rand = opts.test.rand
	}
	e.flight.NoDedup = opts.test.noDedup
	e.bg.init()
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.stats.init(e.rules)
	e.health.init(opts)
	e.plans.init(e)
	e.initRows()
	e.rowTokenPrefix = strings.TrimSuffix(e.layout.RowToken(keying.Hash{}), "{"+keying.Hash{}.String()+"}")
	return e, nil
}

// close stops the background work and waits for it.
func (e *engine) close() {
	e.closeOnce.Do(e.bg.close)
}

// plan is everything learnt once per distinct statement text.
type plan struct {
	st    *keying.Statement
	rule  *Rule // nil: not cached
	rstat *ruleCounters
	// ruleName names the first matching rule, also when it is disabled.
	ruleName string
	// readKeys are the generation tokens a cached entry of this statement records: the epoch first.
	readKeys []string
	// writeKeys are the tokens a write by this statement replaces; writeTables names their tables
	// (nil when the epoch is replaced).
	writeKeys   []string
	writeTables []string
	// row is set for the statement of a row rule.
	row *rowPlan
	// reason says why a read is not cached (when rule is nil, or for a reason of the catalog's);
	// detail says more, for the observer.
	reason bypassReason
	detail string
	// cat is the catalog the plan was made with; alsoWrites are the tables a write changes without
	// naming them (in writeKeys too); session: running it may change the session (it calls a volatile
	// user-defined function).
	cat        *catalog
	alsoWrites []string
	session    bool
	// delta is the last measured query time of a fill (ns), which sizes fill leases.
	delta atomic.Int64
}

// maxPlans bounds the memo of analysed statements. Applications that inline literals produce endless
// distinct texts; past the bound the memo starts over, which costs only re-analysis.
const maxPlans = 8192

// planCache memoizes statement analysis by exact text.
type planCache struct {
	e *engine

	// mu guards m.
	mu sync.RWMutex
	m  map[string]*plan
}

func (pc *planCache) init(e *engine) {
	pc.e = e
	pc.m = make(map[string]*plan)
}

func (pc *planCache) get(query string) *plan {
	pc.mu.RLock()
	p, ok := pc.m[query]
	pc.mu.RUnlock()
	if ok && p.cat == pc.e.cat.current() {
		return p
	}
	old := p
	p = pc.e.newPlan(query)
	if old != nil && old.row != nil && p.row != nil && old.rule == p.rule {
		// Rebuilt for a new catalog: a row rule's state (the extra arguments write-through needs) is
		// the rule's, shared with the plan write-through keeps.
		p.row = old.row
		p.delta.Store(old.delta.Load())
	}
	pc.mu.Lock()
	if len(pc.m) >= maxPlans {
		clear(pc.m)
	}
	pc.m[query] = p
	pc.mu.Unlock()
	return p
}

func (e *engine) newPlan(query string) *plan {
	st := keying.Analyze(query)
	p := &plan{st: st}
	switch st.Kind {
	case keying.KindRead:
		p.readKeys = make([]string, 0, 1+len(st.Reads))
		p.readKeys = append(p.readKeys, e.layout.Epoch())
		for _, t := range st.Reads {
			p.readKeys = append(p.readKeys, e.layout.Token(t))
		}
		switch {
		case !st.Cacheable:
			p.reason = bypassNotCacheable
		case e.rules == nil:
			p.reason = bypassNoRule
		default:
			if r := e.rules.first(st); r == nil {
				p.reason = bypassNoRule
			} else {
				p.ruleName, p.rstat = r.Name, e.stats.rule(r.Name)
				if r.Disabled {
					p.reason = bypassRuleDisabled
				} else {
					p.rule = r
					if r.row != nil {
						p.row = e.newRowPlan(r)
					}
				}
			}
		}
	case keying.KindWrite, keying.KindDDL, keying.KindOther:
		if st.AllTables || st.Kind != keying.KindWrite || len(st.Writes) == 0 {
			p.writeKeys = []string{e.layout.Epoch()}
		} else {
			for _, t := range st.Writes {
				p.writeKeys = append(p.writeKeys, e.layout.Token(t))
			}
			p.writeTables = st.Writes
		}
	}
	e.planCatalog(p, e.cat.current())
	return p
}

// invalidateCtx bounds the replacement of tokens after a write: it ignores the caller's cancellation,
// since the write has happened.
func (e *engine) invalidateCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = context.WithoutCancel(ctx)
	if e.local {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, e.opts.InvalidateTimeout)
}

// hook runs a test hook, if set.
func hook(f func()) {
	if f != nil {
		f()
	}
}

// storeCtx bounds one store round trip. The in-process store never waits on I/O, so it gets no timer.
func (e *engine) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.local {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, e.opts.StoreTimeout)
}
