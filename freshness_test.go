package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// The freshness test runs its workers in child processes: the test binary runs itself with
// -test.run=^TestFreshnessChild$ and freshnessEnv set to a JSON freshnessConfig (see runProcs).
const (
	freshnessEnv = "CACHEDSQL_FRESHNESS_CHILD"
)

// freshnessConfig is what a child process is told.
type freshnessConfig struct {
	Process       int           // index of the child, for messages
	DSN           string        // PostgreSQL, with the test's schema as search_path
	RedisAddr     string        // the Redis shared by every process
	Namespace     string        // the cache namespace shared by every process
	FloorPrefix   string        // key prefix of the published floors: FloorPrefix + counter id
	Counters      int           // counters 1..Counters in table counter
	Writers       int           // writer goroutines
	Readers       int           // reader goroutines
	ReadsPerWrite int           // reads a writer makes after each of its writes
	Duration      time.Duration // how long the workers run
	MaxOps        int           // bound on the iterations of each worker
	Unchecked     bool          // serve cached entries without checking generation tokens
}

// freshnessSummary is what a child process reports.
type freshnessSummary struct {
	Reads, Writes, Stale, Hits uint64
	FirstStale                 string // the first stale read seen, described
}

// freshnessFloor raises the published floor of a counter to ARGV[1] unless it is already higher.
var freshnessFloor = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 0`)

// TestFreshness checks the freshness promise across processes: two processes share PostgreSQL and
// Redis, each with writers and readers through the wrapper. A writer publishes "counter id reached
// n" (a Redis key outside the cache, raised to the maximum) after its UPDATE … RETURNING has
// returned; a reader reads that floor first, then the counter through the wrapper. A value below the
// floor is a stale read. With token checking on there must be none; with it off there must be some,
// which shows that the test can fail.
func TestFreshness(t *testing.T) {
	for _, tc := range []struct {
		name      string
		unchecked bool
	}{
		{"checked", false},
		{"unchecked", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := testenv.Postgres(t)
			cfg := freshnessConfig{
				DSN:           dsn,
				RedisAddr:     testenv.RedisAddr(t),
				Namespace:     strings.TrimSuffix(testenv.Prefix(t), ":"),
				FloorPrefix:   testenv.Prefix(t) + "floor:",
				Counters:      4,
				Writers:       2,
				Readers:       3,
				ReadsPerWrite: 3,
				Duration:      1500 * time.Millisecond,
				MaxOps:        100000,
				Unchecked:     tc.unchecked,
			}
			bare := createCounters(t, dsn, cfg.Counters)
			total := runFreshnessChildren(t, cfg, 2)
			t.Logf("total: %d reads (%d hits), %d writes, %d stale", total.Reads, total.Hits, total.Writes, total.Stale)
			checkCounterSum(t, bare, total.Writes)
			if tc.unchecked {
				if total.Stale == 0 {
					t.Errorf("no stale read with token checking off: the test cannot detect staleness (%+v)", total)
				}
				return
			}
			if total.Stale != 0 {
				t.Errorf("%d stale reads, want 0; first: %s", total.Stale, total.FirstStale)
			}
			if total.Hits == 0 {
				t.Errorf("no read was a hit: the test did not exercise the cache (%+v)", total)
			}
		})
	}
}

// createCounters creates table counter with ids 1..k at 0, and returns a bare connection to it.
func createCounters(t *testing.T, dsn string, k int) *sql.DB {
	t.Helper()
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	mustExec(t, bare, `CREATE TABLE counter (id int PRIMARY KEY, n bigint NOT NULL)`)
	mustExec(t, bare, `INSERT INTO counter SELECT g, 0 FROM generate_series(1, $1::int) g`, k)
	return bare
}

// checkCounterSum checks that the counters add up to the writes the children reported, which shows
// that the children really wrote to this table.
func checkCounterSum(t *testing.T, bare *sql.DB, writes uint64) {
	t.Helper()
	var sum uint64
	if err := bare.QueryRow(`SELECT coalesce(sum(n), 0) FROM counter`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != writes || writes == 0 {
		t.Errorf("counters sum to %d, children reported %d writes (want equal and > 0)", sum, writes)
	}
}

// runFreshnessChildren runs n children with cfg, starts them together once all are ready, and
// returns the sum of their summaries.
func runFreshnessChildren(t *testing.T, cfg freshnessConfig, n int) freshnessSummary {
	t.Helper()
	cfgs := make([]freshnessConfig, n)
	for i := range cfgs {
		cfgs[i] = cfg
		cfgs[i].Process = i
	}
	var total freshnessSummary
	sums := runProcs[freshnessConfig, freshnessSummary](t, cfg.Duration+time.Minute, "TestFreshnessChild", freshnessEnv, cfgs)
	for i, s := range sums {
		t.Logf("process %d: %d reads (%d hits), %d writes, %d stale", i, s.Reads, s.Hits, s.Writes, s.Stale)
		total.Reads += s.Reads
		total.Writes += s.Writes
		total.Stale += s.Stale
		total.Hits += s.Hits
		if total.FirstStale == "" && s.FirstStale != "" {
			total.FirstStale = fmt.Sprintf("process %d: %s", i, s.FirstStale)
		}
	}
	return total
}

// TestFreshnessChild is one process of TestFreshness. It does nothing unless run by it.
func TestFreshnessChild(t *testing.T) {
	cfg, ok := childConfig[freshnessConfig](t, freshnessEnv)
	if !ok {
		return
	}
	w := newFreshnessWorkers(t, cfg)
	childBarrier(t)
	if err := w.run(); err != nil {
		t.Fatal(err)
	}
	childReport(t, w.summary(stats(t, w.db).Hits))
}

// freshnessWorkers are the writers and readers of one child process.
type freshnessWorkers struct {
	cfg freshnessConfig
	rdb *redis.Client // the shared Redis: the cache's store, and the published floors
	db  *sql.DB       // through the wrapper

	reads, writes, stale atomic.Uint64
	firstStale           atomic.Pointer[string]
}

func newFreshnessWorkers(t *testing.T, cfg freshnessConfig) *freshnessWorkers {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	opts := cachedsql.Options{
		Redis:     rdb,
		Namespace: cfg.Namespace,
		Rules:     cacheAll(t),
		// Generous, so that a token write is not abandoned on a loaded machine: a process whose token
		// write failed keeps it pending and bypasses the cache itself, but the other process cannot know
		// (fail-open is tested elsewhere; this test is about the healthy path).
		StoreTimeout: 5 * time.Second,
	}
	if cfg.Unchecked {
		cachedsql.SkipTokenCheck(&opts)
	}
	db, err := cachedsql.Open("pgx", cfg.DSN, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &freshnessWorkers{cfg: cfg, rdb: rdb, db: db}
}

// run runs the writers and readers until cfg.Duration has passed, and returns their errors.
func (w *freshnessWorkers) run() error {
	deadline := time.Now().Add(w.cfg.Duration)
	var wg sync.WaitGroup
	errs := make([]error, w.cfg.Writers+w.cfg.Readers)
	for i := range errs {
		wg.Go(func() {
			writer := i < w.cfg.Writers
			for op := 0; op < w.cfg.MaxOps && time.Now().Before(deadline); op++ {
				id := 1 + (i+op)%w.cfg.Counters
				if writer {
					errs[i] = w.writeThenRead(id)
				} else {
					errs[i] = w.read(id)
				}
				if errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeThenRead increments counter id, publishes the value it reached, then reads
// cfg.ReadsPerWrite counters (starting with its own, which must show its write).
func (w *freshnessWorkers) writeThenRead(id int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int64
	err := w.db.QueryRowContext(ctx, `UPDATE counter SET n = n + 1 WHERE id = $1 RETURNING n`, id).Scan(&n)
	if err != nil {
		return fmt.Errorf("process %d: write %d: %w", w.cfg.Process, id, err)
	}
	w.writes.Add(1)
	if err := freshnessFloor.Run(ctx, w.rdb, []string{w.floorKey(id)}, n).Err(); err != nil {
		return fmt.Errorf("process %d: publish %d=%d: %w", w.cfg.Process, id, n, err)
	}
	for r := range w.cfg.ReadsPerWrite {
		if err := w.read(1 + (id-1+r)%w.cfg.Counters); err != nil {
			return err
		}
	}
	return nil
}

// read reads the published floor of counter id, then the counter through the wrapper, and counts a
// value below the floor as a stale read.
func (w *freshnessWorkers) read(id int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	floor, err := w.rdb.Get(ctx, w.floorKey(id)).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("process %d: read floor %d: %w", w.cfg.Process, id, err)
	}
	var n int64
	if err := w.db.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = $1`, id).Scan(&n); err != nil {
		return fmt.Errorf("process %d: read %d: %w", w.cfg.Process, id, err)
	}
	w.reads.Add(1)
	if n < floor {
		w.stale.Add(1)
		msg := fmt.Sprintf("counter %d read %d after a write of %d had returned", id, n, floor)
		w.firstStale.CompareAndSwap(nil, &msg)
	}
	return nil
}

func (w *freshnessWorkers) floorKey(id int) string { return w.cfg.FloorPrefix + strconv.Itoa(id) }

func (w *freshnessWorkers) summary(hits uint64) freshnessSummary {
	s := freshnessSummary{Reads: w.reads.Load(), Writes: w.writes.Load(), Stale: w.stale.Load(), Hits: hits}
	if p := w.firstStale.Load(); p != nil {
		s.FirstStale = *p
	}
	return s
}
