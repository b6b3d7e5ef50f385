// Package cachedsqlotel reports what a cachedsql cache does through OpenTelemetry: metrics per rule
// (reads by outcome and reason, hit and query latency, invalidations, store errors, stampede control)
// and attributes and events on the span of each read's context.
//
// It sits on the public observer interfaces of package cachedsql: pass an [Observer] from [New] as
// Options.Observer, and call [Observer.RegisterStats] once the database is open for the figures only
// [cachedsql.StatsOf] has (fills, results not stored, the circuit breaker, pending invalidations).
// It depends on the OpenTelemetry API only; the application chooses the SDK and the exporter (the
// Prometheus example under examples/ serves /metrics).
//
// # Metrics
//
// Every measurement carries the attributes of [Options].Attributes, and cachedsql.rule, the name of
// the rule that matched the read, when there is one. Reason attributes hold the stable names of
// [cachedsql.BypassReason] and [cachedsql.StaleReason] with spaces and hyphens turned into
// underscores ("no_rule", "store_unavailable", "lock_wait").
//
//	cachedsql.reads                {read}         cachedsql.read.outcome (hit, miss, bypass, stale),
//	                                              cachedsql.bypass.reason, cachedsql.stale.reason
//	cachedsql.hit.duration         s              a hit, from its start until its rows were ready
//	cachedsql.query.duration       s              a query a read sent to the database: the load of a
//	                                              miss, or a bypass until its rows were closed;
//	                                              cachedsql.read.outcome (miss, bypass),
//	                                              cachedsql.bypass.reason, cachedsql.query.background,
//	                                              error.type when it failed
//	cachedsql.invalidations        {table}        tables whose generation token a write replaced, by
//	                                              db.collection.name; the whole database (its epoch)
//	                                              counts once with cachedsql.invalidation.scope=database
//	cachedsql.invalidated_rows     {row}          rows whose entries a write invalidated one by one
//	cachedsql.store.errors         {error}        cachedsql.store.operation, error.type (timeout or _OTHER)
//	cachedsql.stampede.events      {event}        cachedsql.stampede.event (lease_acquired,
//	                                              lease_contended, lease_waited, lease_wait_timed_out,
//	                                              early_recompute, refreshed)
//	cachedsql.lease.wait.duration  s              a wait for another process's fill;
//	                                              cachedsql.lease.wait.result (filled, timed_out)
//
// The two latency histograms share their bucket boundaries (1 µs to 10 s), so a hit's time and the
// database time it saves can be compared per rule. [Observer.RegisterStats] adds, from
// [cachedsql.StatsOf] at each collection: cachedsql.fills ({fill}, per rule), cachedsql.fills.skipped
// ({result}), cachedsql.loads.shared ({read}), cachedsql.entries.corrupt ({entry}),
// cachedsql.invalidations.pending ({token}) and cachedsql.breaker.open (1 while the read path's
// circuit breaker is open, else 0).
//
// # Traces
//
// The observer creates no spans, so it takes no TracerProvider: the spans it annotates come from the
// application's own tracer. On the span in the context of each read (trace.SpanFromContext),
// when it is recording, it sets the attributes of that read (cachedsql.read.outcome, cachedsql.rule,
// cachedsql.fingerprint, cachedsql.bypass.reason, cachedsql.stale.reason), so a span that made several
// reads shows its last, and adds an event named cachedsql.read with the same attributes for each. A
// query the read sent to the database adds an event named cachedsql.query with its duration and rows.
// Spans for the database statements themselves come from instrumenting the parent driver.
package cachedsqlotel

import (
	"context"
	"errors"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/cachedsql/cachedsql"
)

// ScopeName is the instrumentation scope of the observer's meter.
const ScopeName = "github.com/cachedsql/cachedsql/otel"

// Attribute keys the observer sets.
const (
	RuleKey              = attribute.Key("cachedsql.rule")
	OutcomeKey           = attribute.Key("cachedsql.read.outcome")
	BypassReasonKey      = attribute.Key("cachedsql.bypass.reason")
	StaleReasonKey       = attribute.Key("cachedsql.stale.reason")
	FingerprintKey       = attribute.Key("cachedsql.fingerprint")
	BackgroundKey        = attribute.Key("cachedsql.query.background")
	StoreOperationKey    = attribute.Key("cachedsql.store.operation")
	StampedeEventKey     = attribute.Key("cachedsql.stampede.event")
	LeaseWaitResultKey   = attribute.Key("cachedsql.lease.wait.result")
	InvalidationScopeKey = attribute.Key("cachedsql.invalidation.scope")
	TableKey             = attribute.Key("db.collection.name")
	ErrorTypeKey         = attribute.Key("error.type")
)

// latencyBuckets are the bucket boundaries, in seconds, of the latency histograms: from a memory-store
// hit (microseconds) to a slow query.
var latencyBuckets = []float64{
	1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1,
	0.25, 0.5, 1, 2.5, 5, 10,
}

// Options configures an [Observer]. The zero value of each field means its default; a nil *Options
// means all defaults.
type Options struct {
	// MeterProvider creates the instruments. Default: the global one (otel.GetMeterProvider), which
	// forwards to the provider the application sets later with otel.SetMeterProvider.
	MeterProvider metric.MeterProvider
	// Attributes are added to every measurement, such as attribute.String("db.namespace", "shop") to
	// tell apart the caches of several databases, each with its own Observer. Default none.
	Attributes []attribute.KeyValue
}

// Observer turns a cache's events into OpenTelemetry measurements and span attributes. It implements
// [cachedsql.Observer] and all its optional interfaces. It is safe for concurrent use.
type Observer struct {
	meter metric.Meter
	base  []attribute.KeyValue

	reads, invalidations, rows, storeErrors, stampede metric.Int64Counter
	hitTime, queryTime, leaseWait                     metric.Float64Histogram

	// sets caches the measurement option of each attribute combination met so far (rules, reasons,
	// tables and operations are few), so that recording a measurement builds no attribute set.
	sets sync.Map // setKey -> metric.MeasurementOption
}

var (
	_ cachedsql.Observer           = (*Observer)(nil)
	_ cachedsql.InvalidateObserver = (*Observer)(nil)
	_ cachedsql.StoreErrorObserver = (*Observer)(nil)
	_ cachedsql.StampedeObserver   = (*Observer)(nil)
	_ cachedsql.QueryObserver      = (*Observer)(nil)
)

// New returns an Observer whose instruments come from opts.MeterProvider.
func New(opts *Options) (*Observer, error) {
	if opts == nil {
		opts = &Options{}
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	o := &Observer{meter: mp.Meter(ScopeName), base: append([]attribute.KeyValue(nil), opts.Attributes...)}
	m := o.meter
	var err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, e := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		err = errors.Join(err, e)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, e := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(latencyBuckets...))
		err = errors.Join(err, e)
		return h
	}
	o.reads = counter("cachedsql.reads", "{read}", "Reads decided by the cache, by outcome and reason.")
	o.invalidations = counter("cachedsql.invalidations", "{table}",
		"Tables whose generation token a write replaced (the whole database counts once).")
	o.rows = counter("cachedsql.invalidated_rows", "{row}", "Rows whose entries a write invalidated one by one.")
	o.storeErrors = counter("cachedsql.store.errors", "{error}", "Store calls that failed or timed out.")
	o.stampede = counter("cachedsql.stampede.events", "{event}", "Stampede-control events, by kind.")
	o.hitTime = histogram("cachedsql.hit.duration", "Time of a hit until its rows were ready.")
	o.queryTime = histogram("cachedsql.query.duration", "Database time of a query a read sent to the database.")
	o.leaseWait = histogram("cachedsql.lease.wait.duration", "Time spent waiting for another process's fill.")
	if err != nil {
		return nil, err
	}
	return o, nil
}

// setKey identifies one combination of attributes; unused fields are zero.
type setKey struct {
	kind     uint8 // which instrument family
	rule     string
	outcome  cachedsql.Outcome
	bypass   cachedsql.BypassReason
	stale    cachedsql.StaleReason
	flag     bool   // background query, timed-out wait
	name     string // table, store operation
	stampede cachedsql.StampedeKind
	errType  string // error.type of a failed query or store call
}

const (
	kindRead uint8 = iota
	kindQuery
	kindRule
	kindTable
	kindEpoch
	kindStoreError
	kindStampede
	kindLeaseWait
	kindBase
)

// set returns the measurement option of k, building its attributes with build the first time.
func (o *Observer) set(k setKey, build func() []attribute.KeyValue) metric.MeasurementOption {
	if v, ok := o.sets.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	kvs := append(append([]attribute.KeyValue(nil), o.base...), build()...)
	v, _ := o.sets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(kvs...)))
	return v.(metric.MeasurementOption)
}

// ruleAttrs returns the rule attribute of rule, none for "" (no rule matched).
func ruleAttrs(rule string) []attribute.KeyValue {
	if rule == "" {
		return nil
	}
	return []attribute.KeyValue{RuleKey.String(rule)}
}

// attrName turns a stable reason or kind name into an attribute value: "no rule" → "no_rule".
func attrName(s string) string {
	return strings.NewReplacer(" ", "_", "-", "_").Replace(s)
}

// readAttrs returns the attributes of a read: outcome, rule and reason.
func readAttrs(rule string, o cachedsql.Outcome, b cachedsql.BypassReason, s cachedsql.StaleReason) []attribute.KeyValue {
	kvs := append(ruleAttrs(rule), OutcomeKey.String(o.String()))
	if o == cachedsql.OutcomeBypass {
		kvs = append(kvs, BypassReasonKey.String(attrName(b.String())))
	}
	if o == cachedsql.OutcomeStale {
		kvs = append(kvs, StaleReasonKey.String(attrName(s.String())))
	}
	return kvs
}

// ObserveRead counts the read and records a hit's duration; it annotates the span of ctx.
func (o *Observer) ObserveRead(ctx context.Context, ev cachedsql.ReadEvent) {
	k := setKey{kind: kindRead, rule: ev.Rule, outcome: ev.Outcome, bypass: ev.Bypass, stale: ev.Stale}
	o.reads.Add(ctx, 1, o.set(k, func() []attribute.KeyValue {
		return readAttrs(ev.Rule, ev.Outcome, ev.Bypass, ev.Stale)
	}))
	if ev.Outcome == cachedsql.OutcomeHit {
		o.hitTime.Record(ctx, ev.Duration.Seconds(), o.set(setKey{kind: kindRule, rule: ev.Rule}, func() []attribute.KeyValue {
			return ruleAttrs(ev.Rule)
		}))
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	kvs := append(readAttrs(ev.Rule, ev.Outcome, ev.Bypass, ev.Stale), FingerprintKey.String(ev.Fingerprint))
	span.SetAttributes(kvs...)
	span.AddEvent("cachedsql.read", trace.WithAttributes(kvs...))
}

// ObserveQuery records the database time of a query that a read sent to the database, and adds an
// event to the span of ctx.
func (o *Observer) ObserveQuery(ctx context.Context, ev cachedsql.QueryEvent) {
	errType := ""
	if ev.Err != nil {
		errType = errorType(ev.Err)
	}
	k := setKey{kind: kindQuery, rule: ev.Rule, outcome: ev.Outcome, bypass: ev.Bypass, flag: ev.Background, errType: errType}
	o.queryTime.Record(ctx, ev.Duration.Seconds(), o.set(k, func() []attribute.KeyValue {
		kvs := append(readAttrs(ev.Rule, ev.Outcome, ev.Bypass, 0), BackgroundKey.Bool(ev.Background))
		if errType != "" {
			kvs = append(kvs, ErrorTypeKey.String(errType))
		}
		return kvs
	}))
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	kvs := append(readAttrs(ev.Rule, ev.Outcome, ev.Bypass, 0), FingerprintKey.String(ev.Fingerprint),
		attribute.Float64("cachedsql.query.duration", ev.Duration.Seconds()), attribute.Int("cachedsql.query.rows", ev.Rows))
	if errType != "" {
		kvs = append(kvs, ErrorTypeKey.String(errType))
	}
	span.AddEvent("cachedsql.query", trace.WithAttributes(kvs...))
}

// ObserveInvalidate counts the tables (or the whole database) and rows a write invalidated.
func (o *Observer) ObserveInvalidate(ctx context.Context, ev cachedsql.InvalidateEvent) {
	if ev.Tables == nil {
		o.invalidations.Add(ctx, 1, o.set(setKey{kind: kindEpoch}, func() []attribute.KeyValue {
			return []attribute.KeyValue{InvalidationScopeKey.String("database")}
		}))
	}
	for _, t := range ev.Tables {
		o.invalidations.Add(ctx, 1, o.set(setKey{kind: kindTable, name: t}, func() []attribute.KeyValue {
			return []attribute.KeyValue{InvalidationScopeKey.String("table"), TableKey.String(t)}
		}))
	}
	if ev.Rows > 0 {
		o.rows.Add(ctx, int64(ev.Rows), o.set(setKey{kind: kindBase}, func() []attribute.KeyValue { return nil }))
	}
}

// ObserveStoreError counts a failed store call by operation.
func (o *Observer) ObserveStoreError(ctx context.Context, ev cachedsql.StoreErrorEvent) {
	errType := errorType(ev.Err)
	o.storeErrors.Add(ctx, 1, o.set(setKey{kind: kindStoreError, name: ev.Op, errType: errType}, func() []attribute.KeyValue {
		return []attribute.KeyValue{StoreOperationKey.String(attrName(ev.Op)), ErrorTypeKey.String(errType)}
	}))
}

// ObserveStampede counts a stampede-control event, and records how long a lease wait took.
func (o *Observer) ObserveStampede(ctx context.Context, ev cachedsql.StampedeEvent) {
	o.stampede.Add(ctx, 1, o.set(setKey{kind: kindStampede, rule: ev.Rule, stampede: ev.Kind}, func() []attribute.KeyValue {
		return append(ruleAttrs(ev.Rule), StampedeEventKey.String(attrName(ev.Kind.String())))
	}))
	if ev.Kind != cachedsql.LeaseWaited && ev.Kind != cachedsql.LeaseWaitTimedOut {
		return
	}
	timedOut := ev.Kind == cachedsql.LeaseWaitTimedOut
	o.leaseWait.Record(ctx, ev.Wait.Seconds(), o.set(setKey{kind: kindLeaseWait, rule: ev.Rule, flag: timedOut}, func() []attribute.KeyValue {
		result := "filled"
		if timedOut {
			result = "timed_out"
		}
		return append(ruleAttrs(ev.Rule), LeaseWaitResultKey.String(result))
	}))
}

// errorType is the error.type of err: "timeout" for a deadline, else "_OTHER" (the attribute must
// stay low in cardinality, and error texts are not).
func errorType(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return "timeout"
	}
	return "_OTHER"
}
