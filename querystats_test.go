package cachedsql_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// The statistics workload: a read of users by id with the id inlined (one digest whatever the id),
// cached under rule "users"; an IN list of varying length on orders, which no rule matches; a write.
const (
	qsUserRead  = `SELECT name FROM users WHERE id = %d`
	qsOrderRead = `SELECT count(*) FROM orders WHERE id IN (%s)`
)

// qsRules caches the reads of users.
func qsRules(t testing.TB) *cachedsql.Rules {
	return mustRules(t, cachedsql.Rule{Name: "users", Match: cachedsql.Match{TablesAny: []string{"users"}}, TTL: time.Minute})
}

// qsWorkload runs n rounds of the statistics workload on db: per round one read of each digest and
// one write to orders.
func qsWorkload(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	ctx := context.Background()
	lists := []string{"1", "1, 2", "3, 2, 1"}
	for i := range n {
		queryAll(t, db, ctx, fmt.Sprintf(qsUserRead, 1+i%3))
		queryAll(t, db, ctx, fmt.Sprintf(qsOrderRead, lists[i%3]))
		mustExec(t, db, `UPDATE orders SET total = total + 1 WHERE id = 3`)
	}
}

// qsEnv names the environment variable that makes TestQueryStatsChild a child.
const qsEnv = "CACHEDSQL_QUERYSTATS_CHILD"

// qsConfig is what a statistics child is told.
type qsConfig struct {
	Path, RedisAddr, Namespace string
	Rounds                     int
}

// qsSummary is what a statistics child reports: its own statistics, read in process before Close.
type qsSummary struct {
	Local []cachedsql.QueryStat
}

// TestQueryStatsTwoProcesses: two processes run the workload on one SQLite file, sharing a Redis with
// the default options; once they have closed, the store holds, per digest, the sum of both.
func TestQueryStatsTwoProcesses(t *testing.T) {
	t.Parallel()
	rdb, ns := testenv.Redis(t), namespace(t)
	path, _, _ := openSQLitePath(t, cachedsql.Options{})
	cfgs := []qsConfig{
		{Path: path, RedisAddr: testenv.RedisAddr(t), Namespace: ns, Rounds: 30},
		{Path: path, RedisAddr: testenv.RedisAddr(t), Namespace: ns, Rounds: 45},
	}
	sums := runProcs[qsConfig, qsSummary](t, time.Minute, "TestQueryStatsChild", qsEnv, cfgs)
	got, err := cachedsql.NewAdmin(rdb, ns).QueryStats(context.Background(), cachedsql.AllDatabases)
	if err != nil {
		t.Fatal(err)
	}
	byDigest := make(map[string]cachedsql.QueryStat)
	for _, q := range got {
		byDigest[q.Fingerprint] = q
	}
	users := keying.DigestOf(fmt.Sprintf(qsUserRead, 1))
	orders := keying.DigestOf(fmt.Sprintf(qsOrderRead, "1"))
	if len(got) != 2 {
		t.Fatalf("QueryStats: %d digests, want 2 (%q and %q): %+v", len(got), users.Text, orders.Text, got)
	}
	want := map[string]cachedsql.QueryStat{}
	for _, s := range sums {
		for _, q := range s.Local {
			w := want[q.Fingerprint]
			w.Calls += q.Calls
			w.Hits += q.Hits
			w.Misses += q.Misses
			w.Queries += q.Queries
			w.DBTime += q.DBTime
			w.HitTime += q.HitTime
			w.Rows += q.Rows
			w.Bytes += q.Bytes
			if w.Bypasses == nil {
				w.Bypasses = map[cachedsql.BypassReason]int64{}
			}
			for r, n := range q.Bypasses {
				w.Bypasses[r] += n
			}
			want[q.Fingerprint] = w
		}
	}
	for _, d := range []keying.Digest{users, orders} {
		q, w := byDigest[d.Fingerprint], want[d.Fingerprint]
		if q.Text != d.Text {
			t.Errorf("digest %s: text %q, want %q", d.Fingerprint, q.Text, d.Text)
		}
		if q.Calls != 75 || w.Calls != 75 {
			t.Errorf("%s: %d calls in the store, %d summed over the processes; want 75", d.Text, q.Calls, w.Calls)
		}
		if q.Hits != w.Hits || q.Misses != w.Misses || q.Queries != w.Queries || q.DBTime != w.DBTime ||
			q.HitTime != w.HitTime || q.Rows != w.Rows || q.Bytes != w.Bytes || len(q.Bypasses) != len(w.Bypasses) {
			t.Errorf("%s: store has %+v\nwant the sum of the processes: %+v", d.Text, q, w)
		}
		for r, n := range w.Bypasses {
			if q.Bypasses[r] != n {
				t.Errorf("%s: %d bypasses for %v in the store, want %d", d.Text, q.Bypasses[r], r, n)
			}
		}
		if q.Since.IsZero() || q.Database == "" {
			t.Errorf("%s: Since %v, Database %q: want both set", d.Text, q.Since, q.Database)
		}
	}
	if u := byDigest[users.Fingerprint]; u.Rule != "users" || u.Hits == 0 || u.Misses == 0 || u.HitP50 <= 0 || u.DBP50 <= 0 {
		t.Errorf("users: rule %q, %d hits (p50 %v), %d misses (db p50 %v): want rule users, hits and misses timed",
			u.Rule, u.Hits, u.HitP50, u.Misses, u.DBP50)
	}
	if o := byDigest[orders.Fingerprint]; o.Rule != "" || o.Bypasses[cachedsql.BypassNoRule] != 75 || o.Queries != 75 || o.Exact {
		t.Errorf("orders: rule %q, bypasses %v, %d queries, exact %v: want no rule, 75 bypasses for no rule, timed, not exact",
			o.Rule, o.Bypasses, o.Queries, o.Exact)
	}
	writes, err := cachedsql.NewAdmin(rdb, ns).TableWrites(context.Background(), cachedsql.AllDatabases)
	if err != nil {
		t.Fatal(err)
	}
	if len(writes) != 1 || writes[0].Table != "orders" || writes[0].Writes != 75 {
		t.Errorf("TableWrites = %+v, want 75 writes to orders", writes)
	}
}

// TestQueryStatsChild is a child of TestQueryStatsTwoProcesses.
func TestQueryStatsChild(t *testing.T) {
	cfg, ok := childConfig[qsConfig](t, qsEnv)
	if !ok {
		return
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	db, err := cachedsql.Open("sqlite3", cfg.Path+"?_busy_timeout=5000", cachedsql.Options{Redis: rdb, Namespace: cfg.Namespace, Rules: qsRules(t)})
	if err != nil {
		t.Fatal(err)
	}
	childBarrier(t)
	qsWorkload(t, db, cfg.Rounds)
	local, ok := cachedsql.QueryStatsOf(db)
	if !ok {
		t.Fatal("QueryStatsOf: no statistics with the default options and Redis")
	}
	if err := db.Close(); err != nil { // adds the last figures to the store
		t.Fatal(err)
	}
	childReport(t, qsSummary{Local: local})
}

// TestQueryStatsBounded: a process keeps statistics of at most 256 digests; the statements of further
// digests are counted together in the overflow bucket, and none is lost.
func TestQueryStatsBounded(t *testing.T) {
	_, _, db := openSQLitePath(t, cachedsql.Options{QueryStatsInterval: time.Minute})
	const digests = 300
	ctx := context.Background()
	for i := range digests {
		// Each column list is a digest of its own.
		queryAll(t, db, ctx, fmt.Sprintf("SELECT id%s FROM users WHERE id = %d", strings.Repeat(", id", i), i))
	}
	stats, ok := cachedsql.QueryStatsOf(db)
	if !ok {
		t.Fatal("QueryStatsOf: no statistics with QueryStatsInterval set")
	}
	var calls, overflow int64
	for _, q := range stats {
		calls += q.Calls
		if q.Fingerprint == keying.StatsOverflow {
			overflow = q.Calls
		}
	}
	if len(stats) != 257 || overflow != digests-256 || calls != digests {
		t.Errorf("%d digests kept, %d calls in the overflow bucket, %d calls in all; want 257, %d, %d",
			len(stats), overflow, calls, digests-256, digests)
	}
}

// TestQueryStatsOff: without Redis, and with a negative interval, no statistics are kept.
func TestQueryStatsOff(t *testing.T) {
	for name, opts := range map[string]cachedsql.Options{
		"memory store": {},
		"negative":     {Redis: testenv.Redis(t), Namespace: namespace(t), QueryStatsInterval: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, db := openSQLiteDSN(t, filepath.Join(t.TempDir(), "off.db"), opts)
			if _, ok := cachedsql.QueryStatsOf(db); ok {
				t.Error("QueryStatsOf reports statistics, want none")
			}
		})
	}
}
