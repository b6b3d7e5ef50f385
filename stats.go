package cachedsql

import (
	"context"
	"database/sql/driver"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/internal/wrap"
)

// BypassReason says why a read went straight to the database without looking up the cache. The zero
// BypassReason means the read was not bypassed. String returns a short stable name ("no rule",
// "transaction" …): [Stats.Bypasses] prints and logs show it, and it does not change between releases.
type BypassReason uint8

// Reasons a read bypasses the cache. A statement that is not a read (a write, DDL, a session change)
// is no read at all and has no reason.
const (
	bypassNone BypassReason = iota
	// BypassNoRule: the read is cacheable, but no [Rule] matches it (or the cache has no rules).
	BypassNoRule
	// BypassRuleDisabled: the first rule that matches the read has Disabled set.
	BypassRuleDisabled
	// BypassNotCacheable: package keying judged the statement not cacheable whatever the rules say:
	// it calls a non-deterministic function (now(), random(), nextval() …), locks rows (FOR UPDATE),
	// reads a system catalog, has a writable CTE, or holds several statements. ReadEvent.Detail gives
	// keying's reason.
	BypassNotCacheable
	// BypassTransaction: the read runs inside a transaction.
	BypassTransaction
	// BypassSessionChanged: an earlier statement on the connection changed its session in a way that
	// can change results (SET search_path, set_config, a temporary table, DO, CALL …), and no reset has
	// undone it yet (see the package doc, "What gets cached and when").
	BypassSessionChanged
	// BypassContext: the caller asked for it with [WithBypass].
	BypassContext
	// BypassArgument: an argument has a type the cache cannot hash, or a row rule's key value cannot be
	// put in canonical form.
	BypassArgument
	// BypassStore: the store may not be used for this read: the circuit breaker is open, an
	// invalidation of a table the read depends on is waiting for the store, or the lookup (or reading
	// the generation tokens a fill records) failed or timed out. Concurrent identical reads still
	// share one query.
	BypassStore
	// BypassNotShared: the read joined another caller's load of the same entry, and that load's result
	// could not be shared (too many rows or bytes, not encodable, or its callers gave up): this read
	// queried the database alone.
	BypassNotShared
	// BypassAnalysisFailed: analysing the statement or its arguments panicked. This is a defect of
	// this package, logged once at Warn; the read went to the database.
	BypassAnalysisFailed
	// BypassSessionDiffers: the connection's role or result-affecting settings, read when it was
	// opened, differ from those of the cache's first connection.
	BypassSessionDiffers
	// BypassOtherDatabase: the connection reached another database than the cache's first connection.
	BypassOtherDatabase
	// BypassUserFunction: the read calls a user-defined function that is not known to be pure (not
	// IMMUTABLE in PostgreSQL, not registered as deterministic in SQLite) and its rule does not list
	// the tables it reads in depends_on. ReadEvent.Detail names the function.
	BypassUserFunction
	// BypassView: the read depends on a view whose own query is not cacheable (it calls now(), reads a
	// catalog …), or a row rule's statement reads a view. ReadEvent.Detail says which.
	BypassView
	// BypassCatalogUnknown: the database's catalog (foreign keys, views, triggers, functions) could not
	// be loaded, so what the read depends on is unknown.
	BypassCatalogUnknown
	numBypassReasons
)

var bypassNames = [numBypassReasons]string{
	bypassNone:           "none",
	BypassNoRule:         "no rule",
	BypassRuleDisabled:   "rule disabled",
	BypassNotCacheable:   "not cacheable",
	BypassTransaction:    "transaction",
	BypassSessionChanged: "session changed",
	BypassContext:        "context",
	BypassArgument:       "argument not hashable",
	BypassStore:          "store unavailable",
	BypassNotShared:      "result not shareable",
	BypassAnalysisFailed: "analysis failed",
	BypassSessionDiffers: "session differs",
	BypassOtherDatabase:  "another database",
	BypassUserFunction:   "user-defined function",
	BypassView:           "view not cacheable",
	BypassCatalogUnknown: "catalog unknown",
}

// String returns the reason's stable name, such as "no rule".
func (r BypassReason) String() string {
	if r < numBypassReasons {
		return bypassNames[r]
	}
	return "BypassReason(" + strconv.Itoa(int(r)) + ")"
}

// StaleReason says under which of its rule's stale windows a copy past its TTL was served. The zero
// StaleReason means none: the read was not served stale. String returns a short stable name.
type StaleReason uint8

// Reasons a copy past its TTL is served.
const (
	staleNone StaleReason = iota
	// StaleRevalidate: the copy is inside the rule's stale_while_revalidate window; a background
	// refresh replaces it.
	StaleRevalidate
	// StaleIfError: the database failed (or the read's own load did), and the copy is inside the
	// rule's stale_if_error window.
	StaleIfError
	// StaleLockWait: another process held the entry's fill lease for the rule's whole lock_wait, and
	// the copy is inside one of the rule's stale windows.
	StaleLockWait
	numStaleReasons
)

var staleNames = [numStaleReasons]string{
	staleNone:       "none",
	StaleRevalidate: "revalidate",
	StaleIfError:    "database error",
	StaleLockWait:   "lock wait",
}

// String returns the reason's stable name, such as "revalidate".
func (r StaleReason) String() string {
	if r < numStaleReasons {
		return staleNames[r]
	}
	return "StaleReason(" + strconv.Itoa(int(r)) + ")"
}

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
	// Bypasses counts reads that went straight to the database, by reason (see [BypassReason]); a
	// reason that never happened has no entry.
	Bypasses map[BypassReason]uint64
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
	// StaleServed counts copies served past their TTL, by reason (see [StaleReason]); a reason that
	// never happened has no entry.
	StaleServed map[StaleReason]uint64
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
		PendingInvalidations: e.pending.Count(),
		BreakerOpen:          e.breaker.IsOpen(),
		Bypasses:             make(map[BypassReason]uint64),
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
		StaleServed:          make(map[StaleReason]uint64),
	}
	for i := StaleRevalidate; i < numStaleReasons; i++ {
		if n := s.stale[i].Load(); n > 0 {
			out.StaleServed[i] = n
		}
	}
	for i := BypassNoRule; i < numBypassReasons; i++ {
		if n := s.bypasses[i].Load(); n > 0 {
			out.Bypasses[i] = n
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

// QueryObserver is an optional interface of an [Observer]: it hears how long the database took for the
// reads that went to it, for histograms of database time by rule or fingerprint.
type QueryObserver interface {
	// ObserveQuery is called when a query that a read sent to the database has ended: for the load of a
	// miss once it has read the whole result, for a bypass when the caller closes its rows (or the query
	// failed). A miss that another caller's load served, and a load whose result could not be kept
	// whole (over max_rows or max_bytes, or an error after the first row), are not reported; nor are
	// reads that take the write path because they call a volatile function.
	ObserveQuery(ctx context.Context, ev QueryEvent)
}

// QueryEvent describes one query that a read sent to the database. Observers receive it by value and
// may keep it.
type QueryEvent struct {
	Query       string // the statement's text as the application gave it
	Fingerprint string // the statement's fingerprint, as in [ReadEvent]
	Normalized  string // the statement's normalized text
	Rule        string // the first matching rule's name, "" if none
	// Outcome is OutcomeMiss for the load of an entry (a miss, an early recompute, a background refresh
	// or a write-through's read), or OutcomeBypass, with Bypass saying why. A load made while the store
	// may not be used (its result is shared, not stored) is a bypass for BypassStore.
	Outcome Outcome
	Bypass  BypassReason
	// Background is set for the loads of background refreshes and write-through, which no caller waits
	// for.
	Background bool
	// Duration runs from sending the query to reading its last row, for a load. For a bypass it runs
	// to the caller's closing the rows, so it includes the caller's own work between rows.
	Duration time.Duration
	// Rows counts the rows read (for a bypass, those the caller read). Bytes is the size of a load's
	// encoded result, what a hit would fetch from the store; 0 for a bypass.
	Rows, Bytes int
	// Err is the query's error, if it failed before its rows were read.
	Err error
}

// bypassRead counts a read of p that bypasses the cache for reason why and runs it on the database,
// telling a QueryObserver how long the database took. Without one it adds nothing to next.
func (e *engine) bypassRead(ctx context.Context, p *plan, why BypassReason, next wrap.QueryFunc) (driver.Rows, error) {
	e.bypass(ctx, p, why)
	qo, ok := e.opts.Observer.(QueryObserver)
	if !ok {
		return next(ctx)
	}
	start := time.Now()
	rows, err := next(ctx)
	ev := QueryEvent{Query: p.st.Query, Fingerprint: p.st.Fingerprint, Normalized: p.st.Normalized, Rule: p.ruleName,
		Outcome: OutcomeBypass, Bypass: why}
	switch {
	case err == driver.ErrSkip: // database/sql prepares the statement: it comes back through the statement
		return rows, err
	case err != nil:
		ev.Duration, ev.Err = time.Since(start), err
		qo.ObserveQuery(ctx, ev)
		return rows, err
	}
	r := &observedRows{RowsCore: wrap.ParentRows(rows), qo: qo, ctx: ctx, ev: ev, start: start}
	return wrap.WrapRows(r, wrap.RowsMaskOf(rows)), nil
}

// observedRows are the rows of a bypass, which tell a QueryObserver of the query when they are closed.
type observedRows struct {
	wrap.RowsCore
	qo    QueryObserver
	ctx   context.Context // the query's, for the observer: the driver contract keeps it until Close
	ev    QueryEvent
	start time.Time
	done  bool
}

func (r *observedRows) Next(dest []driver.Value) error {
	err := r.RowsCore.Next(dest)
	if err == nil {
		r.ev.Rows++
	}
	return err
}

func (r *observedRows) Close() error {
	err := r.RowsCore.Close()
	if !r.done {
		r.done = true
		r.ev.Duration = time.Since(r.start)
		r.qo.ObserveQuery(r.ctx, r.ev)
	}
	return err
}

// observeLoad tells a QueryObserver of the query of a load of p for req: it took d and read rows rows,
// encoded in size bytes, or failed with err.
func (e *engine) observeLoad(ctx context.Context, p *plan, req *fillReq, d time.Duration, rows, size int, err error) {
	qo, ok := e.opts.Observer.(QueryObserver)
	if !ok {
		return
	}
	ev := QueryEvent{Query: p.st.Query, Fingerprint: p.st.Fingerprint, Normalized: p.st.Normalized, Rule: p.ruleName,
		Outcome: OutcomeMiss, Background: req.bg || req.noLease, Duration: d, Rows: rows, Bytes: size, Err: err}
	if req.noStore {
		ev.Outcome, ev.Bypass = OutcomeBypass, BypassStore
	}
	qo.ObserveQuery(ctx, ev)
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

// StampedeEvent describes one stampede-control event. Observers receive it by value and may keep it.
type StampedeEvent struct {
	Query       string // the statement's text as the application gave it
	Fingerprint string // the statement's fingerprint, as in [ReadEvent]
	Rule        string // the rule the read is cached under
	Kind        StampedeKind
	Wait        time.Duration // for LeaseWaited and LeaseWaitTimedOut
}

func (e *engine) observeStampede(ctx context.Context, p *plan, kind StampedeKind, wait time.Duration) {
	if o, ok := e.opts.Observer.(StampedeObserver); ok {
		o.ObserveStampede(ctx, StampedeEvent{Query: p.st.Query, Fingerprint: p.st.Fingerprint, Rule: p.ruleName,
			Kind: kind, Wait: wait})
	}
}

// Outcome is what happened to a read.
type Outcome uint8

// Outcomes of a read.
const (
	OutcomeBypass Outcome = iota // not looked up: ReadEvent.Bypass says why
	OutcomeHit                   // served from the cache
	OutcomeMiss                  // queried the database under a rule; the result is stored when complete
	OutcomeStale                 // served a copy past its TTL: ReadEvent.Stale says under which window
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

// ReadEvent describes one read decision. Observers receive it by value and may keep it.
type ReadEvent struct {
	// Query is the statement's text as the application gave it.
	Query string
	// Fingerprint identifies the statement's normalized text: 32 lower-case hex digits, shared by texts
	// that differ only in whitespace, comments or the case of keywords and unquoted names. Literals
	// count: "id = 7" and "id = 8" have different fingerprints (package keying, Statement).
	Fingerprint string
	// Normalized is the normalized text the fingerprint is computed from.
	Normalized string
	// Rule is the name of the first rule that matches the read ("" if none), also when that rule is
	// disabled.
	Rule    string
	Outcome Outcome
	// Bypass says why the read bypassed the cache, for OutcomeBypass; zero otherwise.
	Bypass BypassReason
	// Stale says under which stale window the copy was served, for OutcomeStale; zero otherwise.
	Stale StaleReason
	// Detail says more about some bypass reasons, for people: keying's reason for BypassNotCacheable
	// ("calls now()"), the function for BypassUserFunction, the view for BypassView. It is "" when
	// there is nothing to add; its wording may change between releases.
	Detail string
	// Duration is, for OutcomeHit, how long the read took until its rows were ready: hashing the
	// arguments, the store round trip and decoding the entry. It is 0 for the other outcomes, whose
	// event is sent before the database is queried.
	Duration time.Duration
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

// readEvent returns the event of a read of p with outcome o.
func readEvent(p *plan, o Outcome) ReadEvent {
	return ReadEvent{Query: p.st.Query, Fingerprint: p.st.Fingerprint, Normalized: p.st.Normalized, Rule: p.ruleName,
		Outcome: o}
}

// hit counts a hit of p, whose read began at start.
func (e *engine) hit(ctx context.Context, p *plan, start time.Time) {
	e.stats.hits.Add(1)
	p.rstat.hits.Add(1)
	if e.opts.Observer != nil {
		ev := readEvent(p, OutcomeHit)
		ev.Duration = time.Since(start)
		e.opts.Observer.ObserveRead(ctx, ev)
	}
}

func (e *engine) miss(ctx context.Context, p *plan) {
	e.stats.misses.Add(1)
	p.rstat.misses.Add(1)
	if e.opts.Observer != nil {
		e.opts.Observer.ObserveRead(ctx, readEvent(p, OutcomeMiss))
	}
}

func (e *engine) bypass(ctx context.Context, p *plan, why BypassReason) {
	e.stats.bypasses[why].Add(1)
	if p.rstat != nil {
		p.rstat.bypasses.Add(1)
	}
	if e.opts.Observer != nil {
		ev := readEvent(p, OutcomeBypass)
		ev.Bypass = why
		switch {
		case why == BypassNotCacheable:
			ev.Detail = p.st.Reason
		case why == p.reason:
			ev.Detail = p.detail
		}
		e.opts.Observer.ObserveRead(ctx, ev)
	}
}

func (e *engine) observeStale(ctx context.Context, p *plan, why StaleReason) {
	if e.opts.Observer != nil {
		ev := readEvent(p, OutcomeStale)
		ev.Stale = why
		e.opts.Observer.ObserveRead(ctx, ev)
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
