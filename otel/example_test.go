package cachedsqlotel_test

import (
	"context"
	"log"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"

	"github.com/cachedsql/cachedsql"
	cachedsqlotel "github.com/cachedsql/cachedsql/otel"
)

// logMisses is an observer an application already has: it logs misses.
type logMisses struct{}

func (logMisses) ObserveRead(ctx context.Context, ev cachedsql.ReadEvent) {
	if ev.Outcome == cachedsql.OutcomeMiss {
		slog.DebugContext(ctx, "cache miss", "rule", ev.Rule, "fingerprint", ev.Fingerprint)
	}
}

// ExampleNew reports a cache through the global meter provider (the one the application installs
// with otel.SetMeterProvider) and on the spans of its reads' contexts, beside an observer the
// application already had.
func ExampleNew() {
	rules, err := cachedsql.LoadRules("rules.yaml")
	if err != nil {
		log.Fatal(err)
	}
	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{
		Attributes: []attribute.KeyValue{attribute.String("db.namespace", "shop")},
	})
	if err != nil {
		log.Fatal(err)
	}
	db, err := cachedsql.Open("sqlite3", "shop.db", cachedsql.Options{
		Rules:    rules,
		Observer: cachedsqlotel.Join(obs, logMisses{}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	reg, err := obs.RegisterStats(db)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()
}
