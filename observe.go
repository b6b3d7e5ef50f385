package cachedsql

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/cachedsql/cachedsql/internal/wrap"
)

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
	// Query is the write's text; "COMMIT" for a transaction's writes, "" for a call of Invalidate, and
	// for what the cache does of its own accord the cause [Invalidation.Cause] names.
	Query  string
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

// Invalidating tells the observer of an invalidation, before its round trip (strategies.WriteEvents).
func (e *engine) Invalidating(ctx context.Context, query string, tables []string, rows int) {
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
