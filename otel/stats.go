package cachedsqlotel

import (
	"context"
	"database/sql"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cachedsql/cachedsql"
)

// ErrNotCached is returned by [Observer.RegisterStats] for a database that package cachedsql did not
// open.
var ErrNotCached = errors.New("cachedsqlotel: database not opened through cachedsql")

// RegisterStats adds the figures that only [cachedsql.StatsOf] has, read from db at each collection:
// fills per rule, results not stored, misses served by another caller's load, corrupt entries,
// invalidations waiting for the store, and whether the circuit breaker is open. db must have been
// opened by package cachedsql (else [ErrNotCached]). Call it once per Observer: an Observer reports
// one database (tell several apart with [Options].Attributes). Unregister the returned registration
// when db is closed if the meter provider outlives it.
func (o *Observer) RegisterStats(db *sql.DB) (metric.Registration, error) {
	if _, ok := cachedsql.StatsOf(db); !ok {
		return nil, ErrNotCached
	}
	m := o.meter
	fills, err1 := m.Int64ObservableCounter("cachedsql.fills", metric.WithUnit("{fill}"),
		metric.WithDescription("Results stored in the cache."))
	skipped, err2 := m.Int64ObservableCounter("cachedsql.fills.skipped", metric.WithUnit("{result}"),
		metric.WithDescription("Results read on a miss but not stored (too large, empty with skip_empty, an error …)."))
	shared, err3 := m.Int64ObservableCounter("cachedsql.loads.shared", metric.WithUnit("{read}"),
		metric.WithDescription("Misses served by another caller's load in this process."))
	corrupt, err4 := m.Int64ObservableCounter("cachedsql.entries.corrupt", metric.WithUnit("{entry}"),
		metric.WithDescription("Entries that could not be decoded."))
	pending, err5 := m.Int64ObservableUpDownCounter("cachedsql.invalidations.pending", metric.WithUnit("{token}"),
		metric.WithDescription("Generation tokens waiting for the store to come back."))
	breaker, err6 := m.Int64ObservableGauge("cachedsql.breaker.open",
		metric.WithDescription("1 while the read path's circuit breaker is open, else 0."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return nil, err
	}
	base := metric.WithAttributeSet(attribute.NewSet(o.base...))
	return m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		st, ok := cachedsql.StatsOf(db)
		if !ok {
			return nil
		}
		for rule, rs := range st.Rules {
			ob.ObserveInt64(fills, int64(rs.Fills), o.set(setKey{kind: kindRule, rule: rule}, func() []attribute.KeyValue {
				return ruleAttrs(rule)
			}))
		}
		ob.ObserveInt64(skipped, int64(st.FillsSkipped), base)
		ob.ObserveInt64(shared, int64(st.SharedLoads), base)
		ob.ObserveInt64(corrupt, int64(st.CorruptEntries), base)
		ob.ObserveInt64(pending, int64(st.PendingInvalidations), base)
		open := int64(0)
		if st.BreakerOpen {
			open = 1
		}
		ob.ObserveInt64(breaker, open, base)
		return nil
	}, fills, skipped, shared, corrupt, pending, breaker)
}
