package cachedsqlotel_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cachedsql/cachedsql"
	cachedsqlotel "github.com/cachedsql/cachedsql/otel"
)

// BenchmarkObserveRead measures what the observer adds to a hit, which it hears on the read's
// goroutine: with no span in the context, and with a recording span.
func BenchmarkObserveRead(b *testing.B) {
	ev := cachedsql.ReadEvent{Query: "SELECT 1", Fingerprint: "0123456789abcdef0123456789abcdef", Rule: "orders",
		Outcome: cachedsql.OutcomeHit, Duration: 40 * time.Microsecond}
	_, mp := meter(b)
	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("no span", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			obs.ObserveRead(ctx, ev)
		}
	})
	b.Run("recording span", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
		defer tp.Shutdown(context.Background())
		ctx, span := tp.Tracer("bench").Start(context.Background(), "request")
		defer span.End()
		b.ReportAllocs()
		for b.Loop() {
			obs.ObserveRead(ctx, ev)
		}
	})
}
