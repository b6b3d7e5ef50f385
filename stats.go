package cachedsql

import (
	"context"
	"sync/atomic"
	"time"
)

// bypassReason says why a read went straight to the database.
type bypassReason uint8

const (
	bypassNone         bypassReason = iota
	bypassNoRule                    // no rule matched
	bypassRuleDisabled              // the matching rule is disabled
	bypassNotCacheable              // the statement is not cacheable (keying's reason)
	bypassTransaction               // inside a transaction
	bypassSession                   // the connection's session state was changed
	bypassContext                   // the caller asked for it (WithBypass)
	bypassArgs                      // an argument cannot be hashed
	bypassStore                     // the store is failing, or an invalidation is pending
	bypassNotShared                 // a shared load's result could not be shared: queried alone
	bypassAnalysis                  // analysing the statement or its arguments failed (a bug: logged)
	bypassSessionKey                // the connection's role or settings differ from the cache's first connection
	bypassOtherDB                   // the connection reached another database than the cache's first connection
	bypassUserFunction              // calls a user-defined function whose reads are not declared, or a volatile one
	bypassView                      // reads a view that cannot be cached (its query calls now(), …)
	bypassCatalog                   // the database catalog is not loaded: what the read depends on is unknown
	numBypassReasons
)

var bypassNames = [numBypassReasons]string{
	bypassNone:         "none",
	bypassNoRule:       "no rule",
	bypassRuleDisabled: "rule disabled",
	bypassNotCacheable: "not cacheable",
	bypassTransaction:  "transaction",
	bypassSession:      "session changed",
	bypassContext:      "context",
	bypassArgs:         "argument not hashable",
	bypassStore:        "store unavailable",
	bypassNotShared:    "result not shareable",
	bypassAnalysis:     "analysis failed",
	bypassSessionKey:   "session differs",
	bypassOtherDB:      "another database",
	bypassUserFunction: "user-defined function",
	bypassView:         "view not cacheable",
	bypassCatalog:      "catalog unknown",
}

// staleReason says why a copy past its TTL was served.
type staleReason uint8

const (
	staleRevalidate staleReason = iota // stale_while_revalidate: a refresh runs in the background
	staleIfError                       // stale_if_error: the database failed
	staleWaited                        // another process held the fill lease past lock_wait
	numStaleReasons
)

var staleNames = [numStaleReasons]string{
	staleRevalidate: "revalidate",
	staleIfError:    "database error",
	staleWaited:     "lock wait",
}

func (r staleReason) String() string { return staleNames[r] }

func (r bypassReason) String() string { return bypassNames[r] }

// Stats is a snapshot of a cache's counters since it was opened.
type Stats struct {
	Hits uint64 // reads served from the cache
	// Misses counts reads under a rule that found no valid entry. Most query the database; those served
	// by another caller's load are also counted in SharedLoads, and a few find the entry filled at the
	// re-check inside the load.
	Misses uint64
	Fills  uint64 // results stored
	// FillsSkipped counts results read on a miss but not stored: too many rows or bytes, an error,
	// abandoned, several result sets, a value the codec cannot reproduce exactly, or empty with skip_empty.
	FillsSkipped uint64
	// Bypasses counts reads that went straight to the database, by reason ("no rule", "not cacheable",
	// "transaction", "session changed", "context", "argument not hashable", "store unavailable",
	// "rule disabled", "result not shareable", "analysis failed", "session differs", "another database",
	// "user-defined function", "view not cacheable", "catalog unknown"). "analysis failed" is a defect of
	// this package, logged once at Warn: the statement's text or arguments made its analysis panic, and
	// the read went to the database.
	Bypasses map[string]uint64
	// Invalidations counts generation tokens replaced (a write to two tables counts two).
	Invalidations uint64
	// PendingInvalidations is the number of tokens waiting for the store to come back.
	PendingInvalidations int
	StoreErrors          uint64 // failed or timed-out store calls
	CorruptEntries       uint64 // entries that could not be decoded (deleted, counted as misses)
	BreakerOpen          bool   // the circuit breaker is open: the store is not being called
	Rules                map[string]RuleStats

	// Stampede control.

	// SharedLoads counts misses served by another caller's load in this process (single flight).
	SharedLoads uint64
	// LeasesAcquired and LeasesContended count fill leases taken, and found held by another filler.
	LeasesAcquired, LeasesContended uint64
	// LeaseWaits counts waits for another filler; LeaseWaitTimeouts those that ended without its fill.
	LeaseWaits, LeaseWaitTimeouts uint64
	// EarlyRecomputes counts hits that XFetch picked to recompute before expiry.
	EarlyRecomputes uint64
	// Refreshes counts background refreshes (stale_while_revalidate and refresh_ahead) that completed.
	Refreshes uint64
	// WriteThroughs counts entries that writes stored before returning (rules with WriteThrough);
	// WriteThroughFailures counts write-through reads that failed, leaving their entries invalidated.
	WriteThroughs, WriteThroughFailures uint64
	// StaleServed counts copies served past their TTL, by reason: "revalidate", "database error",
	// "lock wait".
	StaleServed map[string]uint64
}

// RuleStats are the counters of one rule.
type RuleStats struct {
	Hits, Misses, Fills, Bypasses uint64
}

// HitRatio returns Hits / (Hits + Misses), or 0 before any read.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

type ruleCounters struct {
	hits, misses, fills, bypasses atomic.Uint64
}

type stats struct {
	hits, misses, fills, skipped atomic.Uint64
	invalidations, storeErrors   atomic.Uint64
	corrupt                      atomic.Uint64
	bypasses                     [numBypassReasons]atomic.Uint64
	rules                        map[string]*ruleCounters // fixed at init: rules are immutable

	shared, early, refreshes       atomic.Uint64
	leaseAcquired, leaseContended  atomic.Uint64
	leaseWaited, leaseWaitTimeouts atomic.Uint64

	writeThroughs, writeThroughFailures atomic.Uint64
	stale                               [numStaleReasons]atomic.Uint64
}

func (s *stats) init(rs *Rules) {
	s.rules = make(map[string]*ruleCounters)
	if rs == nil {
		return
	}
	for _, r := range rs.All() {
		s.rules[r.Name] = new(ruleCounters)
	}
}

// rule returns the counters of the named rule (a detached one for a rule the set does not know).
func (s *stats) rule(name string) *ruleCounters {
	if c, ok := s.rules[name]; ok {
		return c
	}
	return new(ruleCounters)
}

func (s *stats) snapshot(e *engine) Stats {
	out := Stats{
		Hits:                 s.hits.Load(),
		Misses:               s.misses.Load(),
		Fills:                s.fills.Load(),
		FillsSkipped:         s.skipped.Load(),
		Invalidations:        s.invalidations.Load(),
		StoreErrors:          s.storeErrors.Load(),
		CorruptEntries:       s.corrupt.Load(),
		PendingInvalidations: e.health.pending.count(),
		BreakerOpen:          e.health.isOpen(),
		Bypasses:             make(map[string]uint64),
		Rules:                make(map[string]RuleStats, len(s.rules)),
		SharedLoads:          s.shared.Load(),
		LeasesAcquired:       s.leaseAcquired.Load(),
		LeasesContended:      s.leaseContended.Load(),
		LeaseWaits:           s.leaseWaited.Load(),
		LeaseWaitTimeouts:    s.leaseWaitTimeouts.Load(),
		EarlyRecomputes:      s.early.Load(),
		Refreshes:            s.refreshes.Load(),
		WriteThroughs:        s.writeThroughs.Load(),
		WriteThroughFailures: s.writeThroughFailures.Load(),
		StaleServed:          make(map[string]uint64),
	}
	for i := range numStaleReasons {
		if n := s.stale[i].Load(); n > 0 {
			out.StaleServed[i.String()] = n
		}
	}
	for i := bypassNoRule; i < numBypassReasons; i++ {
		if n := s.bypasses[i].Load(); n > 0 {
			out.Bypasses[i.String()] = n
		}
	}
	for name, c := range s.rules {
		out.Rules[name] = RuleStats{
			Hits: c.hits.Load(), Misses: c.misses.Load(), Fills: c.fills.Load(), Bypasses: c.bypasses.Load(),
		}
	}
	return out
}

// Observer is told what the cache does. Its methods must be safe for concurrent use and quick: they run
// on the statement's goroutine. Implement [InvalidateObserver] and [StoreErrorObserver] too to hear of
// those events.
type Observer interface {
	// ObserveRead is called once for every read statement that is not a write: a hit, a miss or a bypass.
	ObserveRead(ctx context.Context, ev ReadEvent)
}

// InvalidateObserver is an optional interface of an [Observer].
type InvalidateObserver interface {
	// ObserveInvalidate is called when a write replaces generation tokens.
	ObserveInvalidate(ctx context.Context, ev InvalidateEvent)
}

// StoreErrorObserver is an optional interface of an [Observer].
type StoreErrorObserver interface {
	// ObserveStoreError is called when a store call fails or times out (the statement then goes on
	// without the cache).
	ObserveStoreError(ctx context.Context, ev StoreErrorEvent)
}

// StampedeObserver is an optional interface of an [Observer].
type StampedeObserver interface {
	// ObserveStampede is called for each stampede-control event: a fill lease taken or found held, a
	// wait for another process's fill and how it ended, an early recomputation, a background refresh.
	ObserveStampede(ctx context.Context, ev StampedeEvent)
}

// StampedeKind is the kind of a [StampedeEvent].
type StampedeKind uint8

// Kinds of stampede-control events.
const (
	LeaseAcquired     StampedeKind = iota // this process fills the entry
	LeaseContended                        // another process holds the fill lease
	LeaseWaited                           // the wait for another process's fill got it (Wait: how long)
	LeaseWaitTimedOut                     // the wait ended without it (Wait: how long)
	EarlyRecompute                        // XFetch picked this read to recompute the entry before expiry
	Refreshed                             // a background refresh (stale_while_revalidate, refresh_ahead) completed
)

var stampedeNames = [...]string{"lease acquired", "lease contended", "lease waited", "lease wait timed out",
	"early recompute", "refreshed"}

func (k StampedeKind) String() string {
	if int(k) < len(stampedeNames) {
		return stampedeNames[k]
	}
	return "unknown"
}

// StampedeEvent describes one stampede-control event.
type StampedeEvent struct {
	Query string
	Rule  string
	Kind  StampedeKind
	Wait  time.Duration // for LeaseWaited and LeaseWaitTimedOut
}

func (e *engine) observeStampede(ctx context.Context, p *plan, kind StampedeKind, wait time.Duration) {
	if o, ok := e.opts.Observer.(StampedeObserver); ok {
		o.ObserveStampede(ctx, StampedeEvent{Query: p.st.Query, Rule: p.ruleName, Kind: kind, Wait: wait})
	}
}

// Outcome is what happened to a read.
type Outcome uint8

// Outcomes of a read.
const (
	OutcomeBypass Outcome = iota // not looked up: Reason says why
	OutcomeHit                   // served from the cache
	OutcomeMiss                  // queried the database under a rule; the result is stored when complete
	OutcomeStale                 // served a copy past its TTL: Reason says under which window
)

func (o Outcome) String() string {
	switch o {
	case OutcomeHit:
		return "hit"
	case OutcomeMiss:
		return "miss"
	case OutcomeStale:
		return "stale"
	}
	return "bypass"
}

// ReadEvent describes one read decision.
type ReadEvent struct {
	Query   string
	Rule    string // the matching rule's name, "" if none
	Outcome Outcome
	Reason  string // for OutcomeBypass
}

// InvalidateEvent describes one invalidation.
type InvalidateEvent struct {
	Query  string   // the write's text; "COMMIT" for a transaction's writes
	Tables []string // tables written; nil when the whole database (the epoch) was invalidated
	// Rows counts the rows whose entries the write invalidated one by one (a write pinned to key
	// values, under row rules); the tables' result-set entries were invalidated as well.
	Rows int
	Time time.Time
}

// StoreErrorEvent describes one failed store call.
type StoreErrorEvent struct {
	Op  string
	Err error
}

func (e *engine) hit(ctx context.Context, p *plan) {
	e.stats.hits.Add(1)
	p.rstat.hits.Add(1)
	if e.opts.Observer != nil {
		e.opts.Observer.ObserveRead(ctx, ReadEvent{Query: p.st.Query, Rule: p.rule.Name, Outcome: OutcomeHit})
	}
}

func (e *engine) miss(ctx context.Context, p *plan) {
	e.stats.misses.Add(1)
	p.rstat.misses.Add(1)
	if e.opts.Observer != nil {
		e.opts.Observer.ObserveRead(ctx, ReadEvent{Query: p.st.Query, Rule: p.rule.Name, Outcome: OutcomeMiss})
	}
}

func (e *engine) bypass(ctx context.Context, p *plan, why bypassReason) {
	e.stats.bypasses[why].Add(1)
	if p.rstat != nil {
		p.rstat.bypasses.Add(1)
	}
	if e.opts.Observer != nil {
		reason := why.String()
		switch {
		case why == bypassNotCacheable:
			reason += ": " + p.st.Reason
		case why == p.reason && p.detail != "":
			reason += ": " + p.detail
		}
		e.opts.Observer.ObserveRead(ctx, ReadEvent{Query: p.st.Query, Rule: p.ruleName, Outcome: OutcomeBypass, Reason: reason})
	}
}

func (e *engine) observeStale(ctx context.Context, p *plan, why staleReason) {
	if e.opts.Observer != nil {
		e.opts.Observer.ObserveRead(ctx, ReadEvent{Query: p.st.Query, Rule: p.ruleName, Outcome: OutcomeStale, Reason: why.String()})
	}
}

func (e *engine) filled(ctx context.Context, p *plan, size int) {
	e.stats.fills.Add(1)
	p.rstat.fills.Add(1)
	e.log.DebugContext(ctx, "cachedsql: filled", "rule", p.rule.Name, "bytes", size)
}

func (e *engine) skipFill(ctx context.Context, p *plan, why string) {
	e.stats.skipped.Add(1)
	e.log.DebugContext(ctx, "cachedsql: result not stored", "rule", p.rule.Name, "why", why)
}

func (e *engine) observeInvalidate(ctx context.Context, query string, tables []string, rows int) {
	if o, ok := e.opts.Observer.(InvalidateObserver); ok {
		o.ObserveInvalidate(ctx, InvalidateEvent{Query: query, Tables: tables, Rows: rows, Time: e.now()})
	}
}

func (e *engine) observeStoreError(ctx context.Context, op string, err error) {
	if o, ok := e.opts.Observer.(StoreErrorObserver); ok {
		o.ObserveStoreError(ctx, StoreErrorEvent{Op: op, Err: err})
	}
}

// control is the per-call cache control carried by a context.
type control struct {
	bypass, refresh bool
	ttl             time.Duration
	// background marks the refresher's own reads: they never wait for another filler.
	background bool
	// writeThrough marks the reads of write-through: they take no lease.
	writeThrough bool
}

type controlKey struct{}

func controlFrom(ctx context.Context) control {
	c, _ := ctx.Value(controlKey{}).(control)
	return c
}

func withControl(ctx context.Context, f func(*control)) context.Context {
	c := controlFrom(ctx)
	f(&c)
	return context.WithValue(ctx, controlKey{}, c)
}

// WithBypass returns a context whose reads skip the cache: they neither look up nor fill it. Writes
// still invalidate.
func WithBypass(ctx context.Context) context.Context {
	return withControl(ctx, func(c *control) { c.bypass = true })
}

// WithRefresh returns a context whose cached reads skip the lookup, query the database and store the
// fresh result (a forced refresh).
func WithRefresh(ctx context.Context) context.Context {
	return withControl(ctx, func(c *control) { c.refresh = true })
}

// WithTTL returns a context whose cached reads store their results for ttl instead of the rule's TTL.
// A ttl ≤ 0 is ignored.
func WithTTL(ctx context.Context, ttl time.Duration) context.Context {
	return withControl(ctx, func(c *control) { c.ttl = ttl })
}
