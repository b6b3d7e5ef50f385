package cachedsql

import (
	"context"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/health"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
	"github.com/cachedsql/cachedsql/lockstore"
	"github.com/cachedsql/cachedsql/strategies"
)

// engine is the cache behind one connector: one database identity, one store, one rule set.
// It implements wrap.Interceptor. It is safe for concurrent use.
type engine struct {
	opts Options
	st   cacheStore
	// layout names generation tokens and the epoch; entries names cached results. Both are set once,
	// by the first connection (identity.go): every use comes after one.
	layout  keying.Layout
	entries keying.Layout
	// rs holds the rules (ruleset.go): SetRules replaces them while reads run.
	rs  rulesState
	log *slog.Logger
	// clock is the time of everything the cache decides by time: ages and expiry, leases and lease
	// waits, the refresh-ahead scanner, the deliverer's retries (internal/clock says what stays real).
	clock clock.Clock
	// local: the store is in process memory (no I/O, no timeouts needed).
	local bool

	// id is the database identity and session behind the layouts.
	id identityState

	plans   planCache
	cat     catalogState
	stats   stats
	breaker health.Breaker // the read path's circuit breaker
	pending health.Pending // invalidations not delivered yet (strategies/deliver.go)

	// aside is the cache-aside read, with its stampede control, inval the invalidation of writes, with
	// the delivery of what the store could not take, and bg the background refresher (package
	// strategies); rdb is the *sql.DB the refresher reads through.
	aside strategies.CacheAside
	inval strategies.Invalidation
	bg    strategies.Refresher[*hotKey]
	rdb   refreshDB

	// watch watches the other processes sharing the database, and the store (strategies.Watch).
	watch strategies.Watch

	// analysisLogged is set once a failure of statement analysis has been logged.
	analysisLogged atomic.Bool

	// memKey names the shared in-process store e holds ("": e's store is not one).
	memKey string

	qstats *queryStats // per-statement statistics (querystats.go); nil when off

	closeOnce sync.Once
}

// now returns the time on e's clock.
func (e *engine) now() time.Time { return e.clock.Now() }

// cacheStore is what the engine needs of a store: internal/store's Redis and Memory, whose contract
// (store.Store) says what each method promises.
type cacheStore interface {
	// The read path's: an entry and its tokens in one round trip, fills, and the deletion of a corrupt
	// entry (package strategies declares them).
	strategies.ReadStore
	// The write path's: token replacement, with the reads write-through and row rules need.
	strategies.WriteStore
	// The registries of row rules' key sets (row.go).
	AddMembers(ctx context.Context, key string, members ...string) error
	// Hot entries of refresh-ahead and write-through rules: fed by the refresher, read by write-through.
	strategies.HotStore
	TopHot(ctx context.Context, key string, n int) ([]store.HotMember, error)
}

// newEngine makes the cache of one database. parent is the driver whose values entries hold: entries
// are keyed by its type as well as by the database, since another driver returns other Go types for the
// same rows, while generation tokens are shared by every driver reaching the database. The database's
// identity is read from the first connection (identity.go).
func newEngine(opts Options, driverName, dsn string, parent driver.Driver) (*engine, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &engine{
		opts:  opts,
		log:   opts.Logger,
		clock: clock.System,
	}
	if opts.test.clock != nil {
		e.clock = opts.test.clock
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	a := &e.aside
	switch {
	case opts.testStore != nil:
		e.st = opts.testStore
		a.Leases = lockstore.NewMemory(e.clock)
	case opts.Redis != nil:
		e.st = store.NewRedis(opts.Redis).LimitValues(maxEntryBytes(opts.Rules))
		a.Leases = lockstore.NewRedis(opts.Redis, e.clock)
	default:
		e.local = true // the store itself is acquired with the identity (useIdentity)
	}
	a.Store, a.Health, a.Clock, a.Log = e.st, e, e.clock, e.log
	a.Backoff.Clock = e.clock
	a.LeaseKey = func(key string) string { return e.entries.Lease(key) }
	a.FillTimeout = opts.FillTimeout
	a.Rand = rand.Float64
	if opts.test.rand != nil {
		a.Rand = opts.test.rand
	}
	a.Flight.NoDedup = opts.test.noDedup
	a.Hooks = strategies.TestHooks{AfterTokens: opts.test.afterTokens, BeforeQuery: opts.test.beforeQuery,
		BeforeFill: opts.test.beforeFill, SkipTokenCheck: opts.testSkipTokenCheck}
	bg := &e.bg
	bg.Run, bg.Store, bg.Clock, bg.Health, bg.BeforeRefresh = e.refresh, e.st, e.clock, e, opts.test.beforeRefresh
	bg.Init()
	e.rs.cur.Store(newRuleSet(opts.Rules, nil))
	v := &e.inval
	v.Store, v.Events, v.Pending, v.Timer, v.Log = e.st, e, &e.pending, e.clock, e.log
	v.KeySets.Own = func(t string) [][]string { return e.ruleSet().own[t] }
	e.watch.Inval, e.watch.Log = v, e.log
	if !e.local { // the in-process store never waits on I/O: no timeouts
		a.StoreTimeout = opts.StoreTimeout
		v.Timeout = opts.InvalidateTimeout
		bg.FeedTimeout = opts.InvalidateTimeout // a feed may carry thousands of members, as a replacement
	}
	if e.qstats = newQueryStats(e); e.qstats != nil {
		e.opts.Observer = e.qstats.observer(e.opts.Observer)
	}
	e.breaker.Init(opts.BreakerThreshold, opts.BreakerCooldown)
	e.pending.Init(opts.MaxPending)
	e.plans.init(e)
	e.initIdentity(driverName, dsn, parent) // initRows, the watch and an in-process store wait for the identity
	return e, nil
}

// maxEntryBytes is the largest result-set entry rules can fill: the highest max_bytes (0 when a rule has
// no limit, which leaves the store's default bound). A larger value at an entry's key is not one of ours:
// the store reports it without transferring it (a corrupt entry, not a slow store).
func maxEntryBytes(rules *Rules) int64 {
	var n int64
	if rules == nil {
		return 0
	}
	for i := range rules.rules {
		m := int64(rules.rules[i].rule.MaxBytes)
		if m < 0 {
			return 0
		}
		n = max(n, m)
	}
	return n
}

// close makes a last attempt to deliver pending invalidations, then stops the background work and
// waits for it, then lets go of a shared in-process store.
func (e *engine) close() {
	e.closeOnce.Do(func() {
		e.inval.Close()
		e.watch.Stop()
		e.bg.Close()
		e.rdb.close()
		e.qstats.close()
		if e.memKey != "" {
			releaseMemory(e.memKey)
		}
	})
}

// memoryStoreKey names the in-process store of a namespace and a database identity: the identity string
// the engine's layout uses, so that the stores follow however identity is resolved.
func memoryStoreKey(namespace, id string) string { return namespace + "\x00" + id }

// sharedMemories holds the default in-process stores: one per namespace and database, shared by every
// handle of the process on that database (as a Redis is shared by every process), so that a write through
// one handle invalidates what the others cached. A store goes when the last handle holding it closes.
var sharedMemories struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]*sharedMemory
}

// sharedMemory is one in-process store, its fill leases, and the number of engines holding it.
type sharedMemory struct {
	st     *store.Memory
	leases *lockstore.Memory
	refs   int
}

// acquireMemory returns the in-process store named key, making it (bounded by maxBytes, expiring by
// clk) if no open handle holds it. NOTE: the first handle's MemoryMaxBytes sizes a store shared with
// later ones, and its clock (a test's) times it.
func acquireMemory(key string, maxBytes int64, clk clock.Clock) *sharedMemory {
	sharedMemories.mu.Lock()
	defer sharedMemories.mu.Unlock()
	sm := sharedMemories.m[key]
	if sm == nil {
		if sharedMemories.m == nil {
			sharedMemories.m = make(map[string]*sharedMemory)
		}
		sm = &sharedMemory{st: store.NewMemory(store.MemoryOptions{MaxBytes: maxBytes, Clock: clk}), leases: lockstore.NewMemory(clk)}
		sharedMemories.m[key] = sm
	}
	sm.refs++
	return sm
}

// releaseMemory lets go of the store named key; the last release drops it.
func releaseMemory(key string) {
	sharedMemories.mu.Lock()
	defer sharedMemories.mu.Unlock()
	if sm := sharedMemories.m[key]; sm != nil {
		if sm.refs--; sm.refs <= 0 {
			delete(sharedMemories.m, key)
		}
	}
}

// plan is everything learnt once per distinct statement text.
type plan struct {
	// e is the engine the plan is for (its events go there: events.go); rs the rule set it was made
	// under.
	e     *engine
	rs    *ruleSet
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
	reason BypassReason
	detail string
	// cat is the catalog the plan was made with; alsoWrites are the tables a write changes without
	// naming them (in writeKeys too); session: running it may change the session (it calls a volatile
	// user-defined function).
	cat        *catalog
	alsoWrites []string
	session    bool
	// hot says how the plan's entries take part in refresh-ahead (nil: they do not).
	hot *strategies.HotPolicy
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
	rs := pc.e.ruleSet()
	if ok && p.cat == pc.e.cat.current() && p.rs == rs {
		return p
	}
	old := p
	p = pc.e.newPlan(rs, query)
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

// newPlan analyses query under the rule set rs. Analysis never takes the application down: if it panics
// (a defect of this package), the statement gets the plan of failedPlan.
func (e *engine) newPlan(rs *ruleSet, query string) (p *plan) {
	defer func() {
		if r := recover(); r != nil {
			e.analysisFailed("plan", r)
			p = e.failedPlan(rs, query)
		}
	}()
	if e.opts.test.analysis != nil {
		e.opts.test.analysis("plan", query)
	}
	st := keying.Analyze(query)
	p = &plan{e: e, rs: rs, st: st}
	switch st.Kind {
	case keying.KindRead:
		p.readKeys = make([]string, 0, 1+len(st.Reads))
		p.readKeys = append(p.readKeys, e.layout.Epoch())
		for _, t := range st.Reads {
			p.readKeys = append(p.readKeys, e.layout.Token(t))
		}
		switch {
		case !st.Cacheable:
			p.reason = BypassNotCacheable
		case rs.rules == nil:
			p.reason = BypassNoRule
		default:
			if r := rs.rules.first(st); r == nil {
				p.reason = BypassNoRule
			} else {
				p.ruleName, p.rstat = r.Name, rs.counter(r.Name)
				if r.Disabled {
					p.reason = BypassRuleDisabled
				} else {
					p.rule, p.hot = r, e.hotPolicy(p, r)
					if r.row != nil {
						p.row = e.newRowPlan(rs, r)
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

// failedPlan is the plan of a statement whose analysis panicked. A plain SELECT (or VALUES, TABLE,
// SHOW) goes to the database with the bypass reason "analysis failed". Any other text replaces the
// epoch after it runs, as a statement of unknown tables does; unless it is a plain INSERT, UPDATE,
// DELETE, MERGE or REPLACE, it also marks its connection's session changed until DISCARD ALL, since
// it may have been a DO, a CALL or a SET.
func (e *engine) failedPlan(rs *ruleSet, query string) *plan {
	st := &keying.Statement{Query: query, Reason: BypassAnalysisFailed.String()}
	p := &plan{e: e, rs: rs, st: st, reason: BypassAnalysisFailed}
	first := plainFirstWord(query)
	switch first {
	case "select", "values", "table", "show":
		st.Kind = keying.KindRead
		return p
	case "insert", "update", "delete", "merge", "replace":
	default:
		st.ChangesSession = true
		st.Session = []keying.SessionChange{{Op: keying.SessionUnknown}}
	}
	st.Kind, st.AllTables = keying.KindOther, true
	p.writeKeys = []string{e.layout.Epoch()}
	return p
}

// plainFirstWord returns the first word of query, lower-cased, after blanks, "(" and comments, when
// query holds neither ";", nor INTO, nor set_config, so that the word says what it does (as far as
// its text shows); otherwise "". It cannot panic.
func plainFirstWord(query string) (w string) {
	defer func() {
		if recover() != nil {
			w = ""
		}
	}()
	q := strings.ToLower(query)
	if strings.Contains(q, ";") || strings.Contains(q, "set_config") {
		return ""
	}
	for {
		q = strings.TrimLeft(q, " \t\r\n\f\v(")
		switch {
		case strings.HasPrefix(q, "--"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return ""
			}
			q = q[i+1:]
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q, "*/")
			if i < 0 || strings.Contains(q[2:i], "/*") {
				return ""
			}
			q = q[i+2:]
		default:
			w = q[:len(q)-len(strings.TrimLeft(q, "abcdefghijklmnopqrstuvwxyz"))]
			if w == "select" && strings.Contains(q, "into") { // SELECT … INTO creates a table
				return ""
			}
			return w
		}
	}
}

// hashArgs hashes the arguments of a read of p. Otherwise it returns why the read bypasses the cache:
// an argument cannot be hashed (BypassArgument), or hashing panicked (BypassAnalysisFailed).
func (e *engine) hashArgs(p *plan, args []driver.NamedValue) (h keying.Hash, why BypassReason) {
	defer func() {
		if r := recover(); r != nil {
			e.analysisFailed("args", r)
			why = BypassAnalysisFailed
		}
	}()
	if e.opts.test.analysis != nil {
		e.opts.test.analysis("args", p.st.Query)
	}
	h, err := keying.HashArgs(args)
	if err != nil {
		return h, BypassArgument
	}
	return h, bypassNone
}

// analysisFailed logs the first panic of statement analysis (at site) at Warn, with its stack: it is
// a defect of this package, and the statement bypasses the cache or invalidates everything instead.
func (e *engine) analysisFailed(site string, r any) {
	if !e.analysisLogged.CompareAndSwap(false, true) {
		return
	}
	e.log.Warn("cachedsql: statement analysis failed (a bug: please report it); the statement bypasses the cache",
		"site", site, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

// storeCtx bounds one store round trip. The in-process store never waits on I/O, so it gets no timer.
func (e *engine) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.local {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, e.opts.StoreTimeout)
}
