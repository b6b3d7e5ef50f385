package cachedsql_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// The stampede schema: stampede_slow(k, secs) sleeps secs, then records one execution for key k in
// stampede_exec, so the database counts its own executions. It is VOLATILE, and keying cannot know:
// its deny list names specific functions only, so a statement calling it is cached like any read.
const stampedeSchema = `
CREATE TABLE stampede_one (x int NOT NULL);
INSERT INTO stampede_one VALUES (1);
CREATE TABLE stampede_exec (k int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stampede_slow(k int, secs float8) RETURNS int VOLATILE LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_sleep(secs);
	INSERT INTO stampede_exec (k) VALUES (k);
	RETURN k;
END $$;`

// noTables is the depends_on of the stampede rules: stampede_slow() is a VOLATILE function, which is
// cached only when its rule vouches for what it reads; it reads no table (its writes to stampede_exec only
// count its executions).
var noTables = []string{}

// stampedeQuery is a read of key $1 that takes secs in the database.
func stampedeQuery(secs float64) string {
	return fmt.Sprintf(`SELECT stampede_slow($1::int, %g) AS k FROM stampede_one`, secs)
}

// createStampedeSchema creates the stampede schema in a schema of t's own, checks that keying caches
// q, and returns the schema's DSN and a bare connection to it.
func createStampedeSchema(t testing.TB, q string) (string, *sql.DB) {
	t.Helper()
	if st := keying.Analyze(q); !st.Cacheable {
		t.Fatalf("keying.Analyze(%q): not cacheable (%s): the test would not exercise the cache", q, st.Reason)
	}
	dsn := testenv.Postgres(t)
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	mustExec(t, bare, stampedeSchema)
	return dsn, bare
}

// execCount returns how many times the database ran stampede_slow for keys in [lo, hi].
func execCount(t testing.TB, bare *sql.DB, lo, hi int) int {
	t.Helper()
	var n int
	if err := bare.QueryRow(`SELECT count(*) FROM stampede_exec WHERE k BETWEEN $1 AND $2`, lo, hi).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// stampedeEnv names the environment variable that makes TestStampedeChild a child.
const stampedeEnv = "CACHEDSQL_STAMPEDE_CHILD"

// stampedeConfig is what a stampede child is told.
type stampedeConfig struct {
	Process    int
	DSN        string // PostgreSQL, with the test's schema as search_path
	RedisAddr  string // the Redis shared by every process
	Namespace  string // the cache namespace shared by every process
	Query      string // the slow read, of key Key
	Key        int
	Goroutines int  // concurrent readers of the key
	MaxConns   int  // the child's connection pool
	NoLease    bool // rule NoLease
	NoDedup    bool // cachedsql.NoDedup: no in-process single flight either
	// HoldQuery holds a shared query until every other goroutine of the process has joined it, so
	// that all of them began before it did (see holdUntilJoined).
	HoldQuery bool
}

// stampedeSummary is what a stampede child reports.
type stampedeSummary struct {
	Reads, Errors                   int
	FirstError                      string
	Latencies                       []time.Duration // of every successful read
	Hits, Misses, Shared            uint64
	LeasesAcquired, LeasesContended uint64
	LeaseWaits, LeaseWaitTimeouts   uint64
	StoreErrors, StoreBypasses      uint64
	BreakerOpened                   int64 // times the circuit breaker opened
}

// TestStampedeMultiProcess: 4 processes × 250 goroutines ask for the same cold key, whose query
// takes 0.2s. With leases, the database runs it once (once more for a process whose store calls timed
// out, which cannot tell a slow round trip from a miss). Without leases but with single flight, about
// once per process; without either, about once per connection that missed. The last two show that the
// first can fail.
func TestStampedeMultiProcess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		noLease, noDedup bool
	}{
		{"lease", false, false},
		{"nolease", true, false},
		{"nolease-nodedup", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := stampedeConfig{Query: stampedeQuery(0.2), Key: 1, Goroutines: 250, MaxConns: 8,
				NoLease: tc.noLease, NoDedup: tc.noDedup}
			execs, sums := runStampede(t, cfg, 4)
			logStampede(t, execs, sums)
			if tc.noLease {
				if execs <= 1 {
					t.Errorf("%d database executions without leases, want > 1: the test cannot see a stampede", execs)
				}
				return
			}
			// A process whose store calls failed (a loaded host exceeding StoreTimeout) may query once
			// more: it cannot tell a slow lookup from a miss. Each extra execution needs such a process.
			failed := 0
			for _, s := range sums {
				if s.StoreErrors > 0 {
					failed++
				}
			}
			switch {
			case execs < 1:
				t.Errorf("no database execution: the test saw no miss")
			case execs > 1+failed:
				t.Errorf("%d database executions with leases, %d processes saw store errors: want at most %d",
					execs, failed, 1+failed)
			case execs > 1:
				t.Logf("NOTE: %d database executions: %d processes' store calls failed (StoreTimeout exceeded)", execs, failed)
			}
		})
	}
}

// TestStampedeMultiProcessDefaults: the stampede across processes with the default options, while a
// background load saturates the CPU. Each process reads the cold key from as many goroutines as it has
// connections, so that every read is concurrent with the others (a read that waits for a connection
// begins after the first query did, and may not share its rows). With a healthy store the database runs
// the query once; with Redis replies delayed beyond StoreTimeout, at most once per process (each
// process's reads share one query; no process waits on a store it cannot reach).
func TestStampedeMultiProcessDefaults(t *testing.T) {
	t.Parallel()
	const procs, conns = 3, 12
	for _, tc := range []struct {
		name string
		slow bool
	}{
		{"healthy", false},
		{"slow-store", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// With a slow store a read has no tokens to prove that no write came between a shared query
			// and its own start, so only reads that began before the query may share it; under CPU
			// saturation a goroutine can begin more than StoreTimeout after the others. HoldQuery makes
			// every read of a process begin before its query, which is what this test is about.
			cfg := stampedeConfig{Query: stampedeQuery(0.2), Key: 1, Goroutines: conns, MaxConns: conns,
				HoldQuery: tc.slow}
			if tc.slow {
				proxy := testenv.NewProxy(t, testenv.RedisAddr(t))
				proxy.SetDelay(slowStoreDelay)
				cfg.RedisAddr = proxy.Addr()
			}
			testenv.Burn(t)
			execs, sums := runStampede(t, cfg, procs)
			logStampede(t, execs, sums)
			tripped := 0 // processes whose breaker opened
			for _, s := range sums {
				if s.BreakerOpened > 0 {
					tripped++
				}
			}
			switch {
			case tc.slow && execs > procs:
				t.Errorf("%d database executions for %d processes with a slow store, want at most %d", execs, procs, procs)
			case tc.slow:
			case tripped == 0 && execs != 1:
				t.Errorf("%d database executions with a healthy store, want 1", execs)
			case execs > 1+tripped:
				t.Errorf("%d database executions with a healthy store, %d processes' breakers opened: want at most %d",
					execs, tripped, 1+tripped)
			case tripped > 0:
				// A process whose breaker opens does not call the store, so it cannot see the lease: it
				// queries once for its readers. The store was healthy: the defaults misjudged a loaded
				// host's slow round trips (StoreTimeout, breaker threshold) as an outage.
				t.Logf("NOTE: %d database executions: %d of %d processes judged the healthy store failing (breaker opened)",
					execs, tripped, procs)
			}
		})
	}
}

// runStampede runs procs children on a schema and namespace of t's own, each reading cfg.Key from
// cfg.Goroutines goroutines, and returns the database executions and the children's summaries.
func runStampede(t *testing.T, cfg stampedeConfig, procs int) (int, []stampedeSummary) {
	t.Helper()
	var bare *sql.DB
	cfg.DSN, bare = createStampedeSchema(t, cfg.Query)
	if cfg.RedisAddr == "" {
		cfg.RedisAddr = testenv.RedisAddr(t)
	}
	cfg.Namespace = strings.TrimSuffix(testenv.Prefix(t), ":")
	cfgs := make([]stampedeConfig, procs)
	for i := range cfgs {
		cfgs[i] = cfg
		cfgs[i].Process = i
	}
	sums := runProcs[stampedeConfig, stampedeSummary](t, time.Minute, "TestStampedeChild", stampedeEnv, cfgs)
	for i, s := range sums {
		if s.Errors > 0 {
			t.Errorf("process %d: %d of %d reads failed; first: %s", i, s.Errors, s.Reads, s.FirstError)
		}
	}
	return execCount(t, bare, cfg.Key, cfg.Key), sums
}

// logStampede logs each child's counters and the latencies over all of them.
func logStampede(t *testing.T, execs int, sums []stampedeSummary) {
	t.Helper()
	var all []time.Duration
	for i, s := range sums {
		t.Logf("process %d: %d reads, %d hits, %d misses (%d shared), leases %d acquired %d contended, %d waits (%d timed out), store errors %d, store bypasses %d",
			i, s.Reads, s.Hits, s.Misses, s.Shared, s.LeasesAcquired, s.LeasesContended, s.LeaseWaits, s.LeaseWaitTimeouts,
			s.StoreErrors, s.StoreBypasses)
		all = append(all, s.Latencies...)
	}
	t.Logf("database executions: %d; wait p50 %v, p99 %v, max %v",
		execs, percentile(all, 0.50), percentile(all, 0.99), percentile(all, 1))
}

// percentile returns the q-quantile (0..1) of ds, nearest rank, or 0 for none.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// TestStampedeChild is one process of TestStampedeMultiProcess. It does nothing unless run by it.
func TestStampedeChild(t *testing.T) {
	cfg, ok := childConfig[stampedeConfig](t, stampedeEnv)
	if !ok {
		return
	}
	var breakerOpened atomic.Int64
	db := openStampedeChild(t, cfg, &breakerOpened)
	childBarrier(t)
	s := readStampede(db, cfg)
	st := stats(t, db)
	s.Hits, s.Misses, s.Shared = st.Hits, st.Misses, st.SharedLoads
	s.LeasesAcquired, s.LeasesContended = st.LeasesAcquired, st.LeasesContended
	s.LeaseWaits, s.LeaseWaitTimeouts = st.LeaseWaits, st.LeaseWaitTimeouts
	s.StoreErrors, s.StoreBypasses = st.StoreErrors, st.Bypasses[cachedsql.BypassStore]
	s.BreakerOpened = breakerOpened.Load()
	childReport(t, s)
}

// openStampedeChild opens the wrapper for a child, with its connection pool already connected so
// that connecting is not part of the stampede.
func openStampedeChild(t *testing.T, cfg stampedeConfig, breakerOpened *atomic.Int64) *sql.DB {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, ContextTimeoutEnabled: true,
		PoolSize: 4 * cfg.MaxConns})
	t.Cleanup(func() { rdb.Close() })
	opts := cachedsql.Options{
		Redis:     rdb,
		Namespace: cfg.Namespace,
		Rules: mustRules(t, cachedsql.Rule{Name: "stampede", Match: cachedsql.Match{Default: true}, DependsOn: noTables,
			TTL: time.Minute, NoLease: cfg.NoLease}),
		Logger: slog.New(breakerCounter{breakerOpened}),
	}
	if cfg.NoDedup {
		cachedsql.NoDedup(&opts)
	}
	var db *sql.DB
	arm := func() {}
	if cfg.HoldQuery {
		arm = holdUntilJoined(&opts, &db, cfg.Goroutines-1)
	}
	db, err := cachedsql.Open("pgx", cfg.DSN, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer arm()
	t.Cleanup(func() { db.Close() })
	warmPool(t, db, cfg.MaxConns)
	warmRedis(t, rdb, cfg.MaxConns)
	return db
}

// breakerCounter is a slog handler that counts the warnings of the circuit breaker opening.
type breakerCounter struct{ n *atomic.Int64 }

func (h breakerCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h breakerCounter) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h breakerCounter) WithGroup(string) slog.Handler                { return h }
func (h breakerCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "circuit breaker open") {
		h.n.Add(1)
	}
	return nil
}

// warmRedis opens n connections of rdb's pool, so that dialing is not part of the stampede either.
func warmRedis(t testing.TB, rdb *redis.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			// Commands in a MULTI hold their connection until EXEC: n at once need n connections.
			_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Ping(ctx)
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// warmPool limits db's pool to n connections and opens them all.
func warmPool(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.Close()
	}
}

// readStampede reads cfg.Key from cfg.Goroutines goroutines released together.
func readStampede(db *sql.DB, cfg stampedeConfig) stampedeSummary {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lat := make([]time.Duration, cfg.Goroutines)
	errs := make([]error, cfg.Goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range cfg.Goroutines {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			var k int
			if errs[i] = db.QueryRowContext(ctx, cfg.Query, cfg.Key).Scan(&k); errs[i] == nil && k != cfg.Key {
				errs[i] = fmt.Errorf("read key %d, got %d", cfg.Key, k)
			}
			lat[i] = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	var s stampedeSummary
	for i, err := range errs {
		s.Reads++
		if err != nil {
			s.Errors++
			if s.FirstError == "" {
				s.FirstError = fmt.Sprintf("process %d: %v", cfg.Process, err)
			}
			continue
		}
		s.Latencies = append(s.Latencies, lat[i])
	}
	return s
}

// stampedeFigures is TestStampedeMultiProcFigures's environment switch.
const stampedeFigures = "CACHEDSQL_BENCH"

// TestStampedeMultiProcFigures prints the figures of the cold-miss benchmark across 4 processes
// (K = 100 concurrent misses: 25 goroutines in each process) for BENCHMARKS.md. A benchmark would
// have to start processes inside its loop, so this is a test, run only when CACHEDSQL_BENCH=1.
func TestStampedeMultiProcFigures(t *testing.T) {
	if os.Getenv(stampedeFigures) != "1" {
		t.Skip("set " + stampedeFigures + "=1 to print the multi-process stampede figures")
	}
	const procs, perProc, rounds = 4, 25, 5
	for _, tc := range []struct {
		name             string
		noLease, noDedup bool
	}{
		{"lease", false, false},
		{"nolease", true, false},
		{"nolease-nodedup", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var execs int
			var all []time.Duration
			for r := range rounds {
				cfg := stampedeConfig{Query: stampedeQuery(0.05), Key: r + 1, Goroutines: perProc, MaxConns: 8,
					NoLease: tc.noLease, NoDedup: tc.noDedup}
				n, sums := runStampede(t, cfg, procs)
				execs += n
				for _, s := range sums {
					all = append(all, s.Latencies...)
				}
			}
			if len(all) == 0 {
				t.Fatal("no successful read")
			}
			t.Logf("4 processes × %d goroutines, %s: %.2f db-execs/op, p50 %.1f ms, p99 %.1f ms (%d rounds)",
				perProc, tc.name, float64(execs)/rounds, ms(percentile(all, 0.5)), ms(percentile(all, 0.99)), rounds)
		})
	}
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
