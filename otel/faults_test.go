package cachedsqlotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	cachedsqlotel "github.com/cachedsql/cachedsql/otel"
)

// TestStoreErrorsAndBreaker: with Redis out of reach, reads bypass the cache for "store unavailable",
// each failed store call is counted by operation as a timeout, and the breaker gauge reads 1 once the
// breaker opens; every figure matches Stats.
func TestStoreErrorsAndBreaker(t *testing.T) {
	t.Parallel()
	proxy := testenv.NewProxy(t, testenv.RedisAddr(t))
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	p := testenv.Prefix(t)
	reader, mp := meter(t)
	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, cachedsql.Options{Rules: workloadRules(t), Observer: obs, Redis: rdb, Namespace: p[:len(p)-1]})
	reg, err := obs.RegisterStats(db)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	ctx := context.Background()
	query(t, ctx, db, ordersOf, "ann")

	proxy.Blackhole(true)
	// The breaker opens after consecutive failures lasting a second; each read fails after the store
	// timeout. The bound only ends a test that would otherwise read forever.
	for i := 0; ; i++ {
		if st, _ := cachedsql.StatsOf(db); st.BreakerOpen {
			break
		}
		if i == 1000 {
			t.Fatal("the breaker did not open after 1000 reads with the store out of reach")
		}
		query(t, ctx, db, ordersOf, "ann")
	}
	rm := collect(t, reader)
	st, _ := cachedsql.StatsOf(db)
	proxy.Blackhole(false)
	checkAgainstStats(t, rm, st)
	if st.StoreErrors == 0 {
		t.Fatal("no store errors")
	}
	if got := sum(t, rm, "cachedsql.store.errors", cachedsqlotel.ErrorTypeKey.String("timeout")); got != st.StoreErrors {
		t.Errorf("store errors that timed out: %d, want all %d", got, st.StoreErrors)
	}
	if got := sum(t, rm, "cachedsql.store.errors", cachedsqlotel.StoreOperationKey.String("fetch")); got == 0 {
		t.Error("no failed fetch counted")
	}
	if got := sum(t, rm, "cachedsql.reads", rule("orders"), bypass,
		cachedsqlotel.BypassReasonKey.String("store_unavailable")); got == 0 {
		t.Error("no bypass for store_unavailable counted")
	}
	if g := gauge(t, rm, "cachedsql.breaker.open"); g != 1 {
		t.Errorf("breaker open = %d, want 1", g)
	}
}

// TestStaleServed: a copy past its TTL served under stale_while_revalidate is counted as a stale read
// with its reason, and its background refresh as a stampede event; both match Stats.
func TestStaleServed(t *testing.T) {
	t.Parallel()
	rs, err := cachedsql.NewRules(cachedsql.Rule{Name: "orders", Match: cachedsql.Match{TablesAny: []string{"orders"}},
		TTL: time.Millisecond, StaleWhileRevalidate: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	reader, mp := meter(t)
	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	refreshed := make(chan struct{})
	signal := stampedeFunc(func(ev cachedsql.StampedeEvent) {
		if ev.Kind == cachedsql.Refreshed {
			close(refreshed)
		}
	})
	// obs comes first: it has recorded the refresh when signal hears of it.
	db := openSQLite(t, cachedsql.Options{Rules: rs, Observer: cachedsqlotel.Join(obs, signal)})
	reg, err := obs.RegisterStats(db)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	ctx := context.Background()
	query(t, ctx, db, ordersOf, "ann")
	time.Sleep(10 * time.Millisecond) // past the TTL, well inside the stale window
	query(t, ctx, db, ordersOf, "ann")
	select {
	case <-refreshed:
	case <-time.After(time.Minute): // ends a test that would otherwise hang
		t.Fatal("no background refresh")
	}
	rm := collect(t, reader)
	st, _ := cachedsql.StatsOf(db)
	checkAgainstStats(t, rm, st)
	if got := sum(t, rm, "cachedsql.reads", rule("orders"), stale,
		cachedsqlotel.StaleReasonKey.String("revalidate")); got != 1 {
		t.Errorf("stale reads for revalidate: %d, want 1", got)
	}
	if got := sum(t, rm, "cachedsql.stampede.events", rule("orders"), cachedsqlotel.StampedeEventKey.String("refreshed")); got != st.Refreshes || got != 1 {
		t.Errorf("refreshed events: %d, want Stats' %d and 1", got, st.Refreshes)
	}
	if got := count(t, rm, "cachedsql.query.duration", rule("orders"), miss,
		cachedsqlotel.BackgroundKey.Bool(true)); got != 1 {
		t.Errorf("background queries: %d, want 1", got)
	}
}

// stampedeFunc is an observer that hears stampede-control events only.
type stampedeFunc func(cachedsql.StampedeEvent)

func (f stampedeFunc) ObserveRead(context.Context, cachedsql.ReadEvent) {}

func (f stampedeFunc) ObserveStampede(_ context.Context, ev cachedsql.StampedeEvent) { f(ev) }
