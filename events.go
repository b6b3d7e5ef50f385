package cachedsql

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/cachedsql/cachedsql/strategies"
)

// A plan is the strategies.Subject of the reads of its statement: the strategies report what they do
// to it, and it turns that into Stats counters and Observer events; it also does for them what needs
// the engine (rule indexes, row key registries, the refresher and hot sets).
var _ strategies.Subject = (*plan)(nil)

// Hit counts a hit of p, whose read began at start.
func (p *plan) Hit(ctx context.Context, start time.Time) {
	e := p.e
	e.stats.hits.Add(1)
	p.rstat.hits.Add(1)
	if e.opts.Observer != nil {
		ev := readEvent(p, OutcomeHit)
		ev.Duration = time.Since(start)
		e.opts.Observer.ObserveRead(ctx, ev)
	}
}

// Miss counts a miss of p.
func (p *plan) Miss(ctx context.Context) {
	e := p.e
	e.stats.misses.Add(1)
	p.rstat.misses.Add(1)
	if e.opts.Observer != nil {
		e.opts.Observer.ObserveRead(ctx, readEvent(p, OutcomeMiss))
	}
}

// Bypass counts a read of p that the strategy sent to the database.
func (p *plan) Bypass(ctx context.Context, why strategies.Bypass) {
	p.e.bypass(ctx, p, bypassReasonOf(why))
}

// bypassReasonOf is the public reason of a strategy's bypass.
func bypassReasonOf(why strategies.Bypass) BypassReason {
	if why == strategies.NotShared {
		return BypassNotShared
	}
	return BypassStore
}

// QueryAlone runs a read of p whose shared load could not serve it on the database.
func (p *plan) QueryAlone(ctx context.Context, q strategies.Query) (driver.Rows, error) {
	return p.e.bypassRead(ctx, p, BypassNotShared, q)
}

// Stale counts a copy past its TTL served under the stale window why.
func (p *plan) Stale(ctx context.Context, why strategies.StaleReason) {
	e, r := p.e, StaleReason(why) // the same values: TestStrategyEnums
	e.stats.stale[r].Add(1)
	if e.opts.Observer != nil {
		ev := readEvent(p, OutcomeStale)
		ev.Stale = r
		e.opts.Observer.ObserveRead(ctx, ev)
	}
}

// Stampede counts a step of stampede control, and tells a StampedeObserver of the public ones.
func (p *plan) Stampede(ctx context.Context, kind strategies.StampedeKind, wait time.Duration) {
	e := p.e
	switch kind {
	case strategies.LeaseAcquired:
		e.stats.leaseAcquired.Add(1)
	case strategies.LeaseContended:
		e.stats.leaseContended.Add(1)
	case strategies.LeaseWaitBegan:
		e.stats.leaseWaited.Add(1)
	case strategies.LeaseWaitTimedOut:
		e.stats.leaseWaitTimeouts.Add(1)
	case strategies.EarlyRecompute:
		e.stats.early.Add(1)
	case strategies.Refreshed:
		e.stats.refreshes.Add(1)
	case strategies.SharedLoad:
		e.stats.shared.Add(1)
	}
	if kind > strategies.Refreshed {
		return // not a public StampedeKind
	}
	if o, ok := e.opts.Observer.(StampedeObserver); ok {
		o.ObserveStampede(ctx, StampedeEvent{Query: p.st.Query, Fingerprint: p.st.Fingerprint, Rule: p.ruleName,
			Kind: StampedeKind(kind), Wait: wait}) // the same values: TestStrategyEnums
	}
}

// Loaded tells a QueryObserver of the query of a load of p.
func (p *plan) Loaded(ctx context.Context, l strategies.LoadEvent) {
	qo, ok := p.e.opts.Observer.(QueryObserver)
	if !ok {
		return
	}
	ev := QueryEvent{Query: p.st.Query, Fingerprint: p.st.Fingerprint, Normalized: p.st.Normalized, Rule: p.ruleName,
		Outcome: OutcomeMiss, Background: l.Background, Duration: l.Duration, Rows: l.Rows, Bytes: l.Bytes, Err: l.Err}
	if l.NotStored {
		ev.Outcome, ev.Bypass = OutcomeBypass, BypassStore
	}
	qo.ObserveQuery(ctx, ev)
}

// Filled counts a stored result of size bytes.
func (p *plan) Filled(ctx context.Context, size int) {
	p.e.stats.fills.Add(1)
	p.rstat.fills.Add(1)
	p.e.log.DebugContext(ctx, "cachedsql: filled", "rule", p.rule.Name, "bytes", size)
}

// FillSkipped counts a result that was not stored, for the reason why.
func (p *plan) FillSkipped(ctx context.Context, why string) {
	p.e.stats.skipped.Add(1)
	p.e.log.DebugContext(ctx, "cachedsql: result not stored", "rule", p.rule.Name, "why", why)
}

// Corrupt counts an entry that could not be served (the strategy logs and deletes it).
func (p *plan) Corrupt(context.Context, string, error) {
	p.e.stats.corrupt.Add(1)
}

// Index returns the rule index a fill of p stored for ttl adds its key to (rule_index.go).
func (p *plan) Index(ttl time.Duration) (string, time.Duration) {
	return p.e.ruleIndex(p.rule, ttl)
}

// Register makes sure the key column set of p's row rule is in the store's registry (row.go).
func (p *plan) Register(ctx context.Context, again bool) bool {
	if again {
		return p.e.reregisterRow(ctx, p)
	}
	return p.e.registerRow(ctx, p)
}

// Revalidate refreshes the entry at key in the background (strategies.Refresher).
func (p *plan) Revalidate(key string, args []driver.NamedValue) {
	p.e.bg.Refresh(key, &hotKey{p: p, args: sqlArgs(args)})
}

// Touch counts a hit of the entry at key for refresh-ahead and write-through (strategies.Refresher, refresh.go).
func (p *plan) Touch(key string, expires time.Time, delta time.Duration, args []driver.NamedValue) {
	p.e.touchHot(p, key, expires, delta, args)
}
