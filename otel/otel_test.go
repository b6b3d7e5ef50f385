package cachedsqlotel_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	cachedsqlotel "github.com/cachedsql/cachedsql/otel"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// workloadRules caches reads of orders and customers, and disables caching for reads of audit.
func workloadRules(t *testing.T) *cachedsql.Rules {
	t.Helper()
	rs, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "orders", Match: cachedsql.Match{TablesAny: []string{"orders"}}, TTL: time.Minute},
		cachedsql.Rule{Name: "customers", Match: cachedsql.Match{TablesAny: []string{"customers"}}, TTL: time.Minute},
		cachedsql.Rule{Name: "audit-off", Match: cachedsql.Match{TablesAny: []string{"audit"}}, Disabled: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// meter returns a meter provider that an in-memory reader collects from.
func meter(t testing.TB) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return r, mp
}

// openSQLite opens a new SQLite file through the cache with opts, and creates the workload's tables.
func openSQLite(t *testing.T, opts cachedsql.Options) *sql.DB {
	t.Helper()
	db, err := cachedsql.Open("sqlite3", filepath.Join(t.TempDir(), "shop.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, s := range []string{
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount INTEGER)`,
		`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)`,
		`CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT)`,
		`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`,
		`INSERT INTO orders (customer, amount) VALUES ('ann', 10), ('ann', 20), ('bob', 5)`,
		`INSERT INTO customers (name) VALUES ('ann'), ('bob')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

// query runs a read on q (a *sql.DB or *sql.Tx) and reads its rows in full.
func query(t *testing.T, ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, text string, args ...any) {
	t.Helper()
	rows, err := q.QueryContext(ctx, text, args...)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
}

const ordersOf = `SELECT count(*), sum(amount) FROM orders WHERE customer = ?`

// workload makes hits, misses and bypasses of several reasons, under several rules and none, and one
// write.
func workload(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	for range 3 {
		for _, c := range []string{"ann", "bob"} {
			query(t, ctx, db, ordersOf, c)
		}
	}
	for range 2 {
		query(t, ctx, db, `SELECT name FROM customers WHERE id = ?`, 1)
	}
	query(t, cachedsql.WithBypass(ctx), db, ordersOf, "ann")
	query(t, ctx, db, `SELECT count(*) FROM audit`)
	query(t, ctx, db, `SELECT body FROM notes`)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	query(t, ctx, tx, ordersOf, "bob")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO orders (customer, amount) VALUES (?, ?)`, "ann", 7); err != nil {
		t.Fatal(err)
	}
	query(t, ctx, db, ordersOf, "ann")
}

// collect returns what r holds now.
func collect(t *testing.T, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// find returns the metric named name, and whether there is one (an instrument that never recorded
// anything is not collected).
func find(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// matches reports whether set has every attribute of want; an empty value in want means "absent".
func matches(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if kv.Value.Type() == attribute.STRING && kv.Value.AsString() == "" {
			if ok {
				return false
			}
			continue
		}
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// sum adds the points of the int64 sum named name whose attributes match want (0 if it is absent).
func sum(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) uint64 {
	t.Helper()
	m, found := find(rm, name)
	if !found {
		return 0
	}
	data, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, not an int64 sum", name, m.Data)
	}
	var n int64
	for _, dp := range data.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Value
		}
	}
	return uint64(n)
}

// count adds the counts of the points of the histogram named name whose attributes match want (0 if it
// is absent).
func count(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) uint64 {
	t.Helper()
	m, found := find(rm, name)
	if !found {
		return 0
	}
	data, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, not a float64 histogram", name, m.Data)
	}
	var n uint64
	for _, dp := range data.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Count
		}
	}
	return n
}

// gauge returns the value of the int64 gauge named name.
func gauge(t *testing.T, rm metricdata.ResourceMetrics, name string) int64 {
	t.Helper()
	m, _ := find(rm, name)
	data, ok := m.Data.(metricdata.Gauge[int64])
	if !ok || len(data.DataPoints) != 1 {
		t.Fatalf("%s: want one int64 gauge point, got %#v", name, m.Data)
	}
	return data.DataPoints[0].Value
}

var (
	hit    = cachedsqlotel.OutcomeKey.String("hit")
	miss   = cachedsqlotel.OutcomeKey.String("miss")
	bypass = cachedsqlotel.OutcomeKey.String("bypass")
	stale  = cachedsqlotel.OutcomeKey.String("stale")
	noRule = cachedsqlotel.RuleKey.String("")
)

func rule(name string) attribute.KeyValue { return cachedsqlotel.RuleKey.String(name) }

// checkAgainstStats checks the metrics of a workload against the cache's own counters.
func checkAgainstStats(t *testing.T, rm metricdata.ResourceMetrics, st cachedsql.Stats) {
	t.Helper()
	for name, rs := range st.Rules {
		for _, c := range []struct {
			what      string
			got, want uint64
		}{
			{"hits", sum(t, rm, "cachedsql.reads", rule(name), hit), rs.Hits},
			{"misses", sum(t, rm, "cachedsql.reads", rule(name), miss), rs.Misses},
			{"bypasses", sum(t, rm, "cachedsql.reads", rule(name), bypass), rs.Bypasses},
			{"hit durations", count(t, rm, "cachedsql.hit.duration", rule(name)), rs.Hits},
			{"miss query durations", count(t, rm, "cachedsql.query.duration", rule(name), miss, cachedsqlotel.BackgroundKey.Bool(false)), rs.Misses},
			{"fills", sum(t, rm, "cachedsql.fills", rule(name)), rs.Fills},
		} {
			if c.got != c.want {
				t.Errorf("rule %s: %s: metrics say %d, Stats %d", name, c.what, c.got, c.want)
			}
		}
	}
	for why, n := range st.Bypasses {
		reason := cachedsqlotel.BypassReasonKey.String(reasonName(why))
		if got := sum(t, rm, "cachedsql.reads", bypass, reason); got != n {
			t.Errorf("bypasses for %q: metrics say %d, Stats %d", why, got, n)
		}
	}
	for why, n := range st.StaleServed {
		reason := cachedsqlotel.StaleReasonKey.String(reasonName(why))
		if got := sum(t, rm, "cachedsql.reads", stale, reason); got != n {
			t.Errorf("stale served for %q: metrics say %d, Stats %d", why, got, n)
		}
	}
	totals := []struct {
		what      string
		got, want uint64
	}{
		{"hits", sum(t, rm, "cachedsql.reads", hit), st.Hits},
		{"misses", sum(t, rm, "cachedsql.reads", miss), st.Misses},
		{"store errors", sum(t, rm, "cachedsql.store.errors"), st.StoreErrors},
		{"fills skipped", sum(t, rm, "cachedsql.fills.skipped"), st.FillsSkipped},
		{"shared loads", sum(t, rm, "cachedsql.loads.shared"), st.SharedLoads},
		{"pending invalidations", sum(t, rm, "cachedsql.invalidations.pending"), uint64(st.PendingInvalidations)},
	}
	for _, c := range totals {
		if c.got != c.want {
			t.Errorf("%s: metrics say %d, Stats %d", c.what, c.got, c.want)
		}
	}
}

// reasonName is the attribute value of a reason: its stable name, with underscores.
func reasonName(r interface{ String() string }) string {
	b := []byte(r.String())
	for i, c := range b {
		if c == ' ' || c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// runWorkload runs the workload on a cache with store (nil: the memory store) and checks its metrics
// against its Stats.
func runWorkload(t *testing.T, opts cachedsql.Options) {
	reader, mp := meter(t)
	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	opts.Rules, opts.Observer = workloadRules(t), obs
	db := openSQLite(t, opts)
	reg, err := obs.RegisterStats(db)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	workload(t, context.Background(), db)

	rm := collect(t, reader)
	st, _ := cachedsql.StatsOf(db)
	checkAgainstStats(t, rm, st)

	// The workload's figures, so that a workload that did nothing cannot pass. A store call that timed
	// out on a loaded host turns a hit or a miss into a bypass: the figures above still match Stats.
	if st.Hits+st.Misses == 0 || len(st.Bypasses) == 0 {
		t.Fatalf("the workload made no hit, miss or bypass: %+v", st)
	}
	if st.StoreErrors > 0 {
		t.Logf("%d store calls failed: the workload's own figures are not checked", st.StoreErrors)
		return
	}
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"orders hits", sum(t, rm, "cachedsql.reads", rule("orders"), hit), 4},
		{"orders misses", sum(t, rm, "cachedsql.reads", rule("orders"), miss), 3},
		{"customers hits", sum(t, rm, "cachedsql.reads", rule("customers"), hit), 1},
		{"orders bypasses for context", sum(t, rm, "cachedsql.reads", rule("orders"), bypass,
			cachedsqlotel.BypassReasonKey.String("context")), 1},
		{"orders bypasses in a transaction", sum(t, rm, "cachedsql.reads", rule("orders"), bypass,
			cachedsqlotel.BypassReasonKey.String("transaction")), 1},
		{"audit-off bypasses", sum(t, rm, "cachedsql.reads", rule("audit-off"), bypass,
			cachedsqlotel.BypassReasonKey.String("rule_disabled")), 1},
		{"reads under no rule", sum(t, rm, "cachedsql.reads", noRule, bypass,
			cachedsqlotel.BypassReasonKey.String("no_rule")), 1},
		{"bypass query durations", count(t, rm, "cachedsql.query.duration", bypass), 4},
		{"orders invalidations (set-up and workload)", sum(t, rm, "cachedsql.invalidations", cachedsqlotel.TableKey.String("orders")), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, c.got, c.want)
		}
	}
	if g := gauge(t, rm, "cachedsql.breaker.open"); g != 0 {
		t.Errorf("breaker open = %d, want 0", g)
	}
}

// TestMetricsMatchStats: after a workload on SQLite and the memory store, every per-rule counter
// equals StatsOf's.
func TestMetricsMatchStats(t *testing.T) {
	t.Parallel()
	runWorkload(t, cachedsql.Options{})
}

// TestMetricsMatchStatsRedis: the same on Redis.
func TestMetricsMatchStatsRedis(t *testing.T) {
	t.Parallel()
	p := testenv.Prefix(t)
	runWorkload(t, cachedsql.Options{Redis: testenv.Redis(t), Namespace: p[:len(p)-1]})
}
