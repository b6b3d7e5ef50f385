package cachedsqlotel_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cachedsql/cachedsql"
	cachedsqlotel "github.com/cachedsql/cachedsql/otel"
)

// counting counts the events of every kind it hears.
type counting struct {
	mu                                                sync.Mutex
	reads, tables, epochs, queries, stampedes, errors uint64
}

func (c *counting) ObserveRead(context.Context, cachedsql.ReadEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
}

func (c *counting) ObserveInvalidate(_ context.Context, ev cachedsql.InvalidateEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Tables == nil {
		c.epochs++
	}
	c.tables += uint64(len(ev.Tables))
}

func (c *counting) ObserveQuery(context.Context, cachedsql.QueryEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries++
}

func (c *counting) ObserveStampede(context.Context, cachedsql.StampedeEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stampedes++
}

func (c *counting) ObserveStoreError(context.Context, cachedsql.StoreErrorEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors++
}

// TestJoin: every event reaches each joined observer, through each optional interface: what a
// counting observer heard equals what the OpenTelemetry observer beside it recorded.
func TestJoin(t *testing.T) {
	t.Parallel()
	reader, mp := meter(t)
	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{}
	db := openSQLite(t, cachedsql.Options{Rules: workloadRules(t), Observer: cachedsqlotel.Join(nil, obs, c)})
	workload(t, context.Background(), db)
	rm := collect(t, reader)
	c.mu.Lock()
	defer c.mu.Unlock()
	scope := cachedsqlotel.InvalidationScopeKey
	for _, x := range []struct {
		what          string
		heard, metric uint64
	}{
		{"reads", c.reads, sum(t, rm, "cachedsql.reads")},
		{"tables invalidated", c.tables, sum(t, rm, "cachedsql.invalidations", scope.String("table"))},
		{"databases invalidated", c.epochs, sum(t, rm, "cachedsql.invalidations", scope.String("database"))},
		{"queries", c.queries, count(t, rm, "cachedsql.query.duration")},
		{"stampede events", c.stampedes, sum(t, rm, "cachedsql.stampede.events")},
		{"store errors", c.errors, sum(t, rm, "cachedsql.store.errors")},
	} {
		if x.heard != x.metric {
			t.Errorf("%s: the joined observer heard %d, the metrics say %d", x.what, x.heard, x.metric)
		}
	}
	if c.reads == 0 || c.tables == 0 || c.epochs == 0 || c.queries == 0 || c.stampedes == 0 {
		t.Errorf("the workload left a kind of event out: %+v", c)
	}
}
