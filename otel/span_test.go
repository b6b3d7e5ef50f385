package cachedsqlotel_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cachedsql/cachedsql"
	cachedsqlotel "github.com/cachedsql/cachedsql/otel"
)

// readRecorder is an observer of the application's own, kept beside the OpenTelemetry one by Join.
type readRecorder struct {
	mu      sync.Mutex
	reads   []cachedsql.ReadEvent
	queries int
}

func (r *readRecorder) ObserveRead(_ context.Context, ev cachedsql.ReadEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, ev)
}

func (r *readRecorder) ObserveQuery(context.Context, cachedsql.QueryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries++
}

// spanAttrs returns the attributes of the ended span named name.
func spanAttrs(t *testing.T, sr *tracetest.SpanRecorder, name string) (map[attribute.Key]attribute.Value, []sdktrace.Event) {
	t.Helper()
	for _, s := range sr.Ended() {
		if s.Name() != name {
			continue
		}
		m := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			m[kv.Key] = kv.Value
		}
		return m, s.Events()
	}
	t.Fatalf("no span %s", name)
	return nil, nil
}

// eventNames lists the names of events.
func eventNames(events []sdktrace.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Name)
	}
	return out
}

// TestSpanAttributes: the caller's span carries the outcome, rule, fingerprint and reason of its read,
// and events for the read and for the query it sent to the database. An observer joined to the
// OpenTelemetry one hears the same reads.
func TestSpanAttributes(t *testing.T) {
	t.Parallel()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	_, mp := meter(t)
	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	rec := &readRecorder{}
	db := openSQLite(t, cachedsql.Options{Rules: workloadRules(t), Observer: cachedsqlotel.Join(obs, nil, rec)})

	tracer := tp.Tracer("test")
	for _, s := range []struct {
		span string
		ctx  func(context.Context) context.Context
	}{
		{"first", func(ctx context.Context) context.Context { return ctx }},
		{"second", func(ctx context.Context) context.Context { return ctx }},
		{"bypassed", cachedsql.WithBypass},
	} {
		ctx, span := tracer.Start(context.Background(), s.span)
		query(t, s.ctx(ctx), db, ordersOf, "ann")
		span.End()
	}

	rec.mu.Lock()
	reads, queries := rec.reads, rec.queries
	rec.mu.Unlock()
	if len(reads) != 3 || queries != 2 {
		t.Fatalf("the joined observer heard %d reads and %d queries, want 3 and 2 (a miss's load and a bypass)", len(reads), queries)
	}
	for _, c := range []struct {
		span, outcome, reason string
		events                []string
	}{
		{"first", "miss", "", []string{"cachedsql.read", "cachedsql.query"}},
		{"second", "hit", "", []string{"cachedsql.read"}},
		{"bypassed", "bypass", "context", []string{"cachedsql.read", "cachedsql.query"}},
	} {
		attrs, events := spanAttrs(t, sr, c.span)
		if got := attrs[cachedsqlotel.OutcomeKey].AsString(); got != c.outcome {
			t.Errorf("span %s: outcome %q, want %q", c.span, got, c.outcome)
		}
		if got := attrs[cachedsqlotel.RuleKey].AsString(); got != "orders" {
			t.Errorf("span %s: rule %q, want orders", c.span, got)
		}
		if got, want := attrs[cachedsqlotel.FingerprintKey].AsString(), reads[0].Fingerprint; got != want || len(got) != 32 {
			t.Errorf("span %s: fingerprint %q, want %q", c.span, got, want)
		}
		reason, ok := attrs[cachedsqlotel.BypassReasonKey]
		if c.reason == "" && ok || c.reason != "" && reason.AsString() != c.reason {
			t.Errorf("span %s: bypass reason %q (set: %v), want %q", c.span, reason.AsString(), ok, c.reason)
		}
		if got := eventNames(events); !slices.Equal(got, c.events) {
			t.Errorf("span %s: events %q, want %q", c.span, got, c.events)
		}
	}
}

// TestNoSpan: a read whose context holds no span records its metrics and nothing else.
func TestNoSpan(t *testing.T) {
	t.Parallel()
	reader, mp := meter(t)
	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{MeterProvider: mp,
		Attributes: []attribute.KeyValue{attribute.String("db.namespace", "shop")}})
	if err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, cachedsql.Options{Rules: workloadRules(t), Observer: obs})
	query(t, context.Background(), db, ordersOf, "ann")
	rm := collect(t, reader)
	if got := sum(t, rm, "cachedsql.reads", miss, rule("orders"), attribute.String("db.namespace", "shop")); got != 1 {
		t.Errorf("misses of orders in db.namespace shop: %d, want 1", got)
	}
}
