package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
	Duration      time.Duration // how long the workers run at least
	MinOps        int           // iterations each worker runs at least (a loaded machine is slow)
	MaxOps        int           // bound on the iterations of each worker
	Unchecked     bool          // serve cached entries without checking generation tokens
	// Mode says how counters are cached: "" caches every read whole (table-level invalidation); "row"
	// reads counters through a row rule keyed by id; "write-through" adds write_through to it.
	// RowProcesses lists the processes that use Mode; the others cache every read whole (their rules
	// do not know the row rule: they learn its key from the store).
	Mode         string
	RowProcesses []int
	// ColdCounters are counters Counters+1 … Counters+ColdCounters, which no one writes: readers read
	// one of them every ColdEvery reads, through a *sql.DB of their own, to count how many stay hits.
	ColdCounters, ColdEvery int
}

// freshnessSummary is what a child process reports.
type freshnessSummary struct {
	Reads, Writes, Stale, Hits uint64
	ColdReads, ColdHits        uint64
	WriteThroughs              uint64
	FirstStale                 string // the first stale read seen, described
}

// freshnessFloor raises the published floor of a counter to ARGV[1] unless it is already higher.
var freshnessFloor = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 0`)

// TestFreshness checks the freshness promise across processes, with the default options and the CPU
// saturated: two processes share PostgreSQL and Redis, each with writers and readers through the wrapper. A writer publishes "counter id reached
// n" (a Redis key outside the cache, raised to the maximum) after its UPDATE … RETURNING has
// returned; a reader reads that floor first, then the counter through the wrapper. A value below the
// floor is a stale read. With token checking on there must be none; with it off there must be some,
// which shows that the test can fail.
func TestFreshness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		unchecked bool
	}{
		{"checked", false},
		{"unchecked", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.Burn(t) // the child processes run on a saturated CPU, as on a loaded host
			cfg := baseFreshnessConfig(t)
			cfg.Unchecked = tc.unchecked
			dsn := cfg.DSN
			bare := createCounters(t, dsn, cfg.Counters, 0)
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

// baseFreshnessConfig is the configuration of the freshness tests: a fresh schema and namespace, 4
// counters, 2 writers and 3 readers per process, 1.5s.
func baseFreshnessConfig(t *testing.T) freshnessConfig {
	return freshnessConfig{
		DSN:           testenv.Postgres(t),
		RedisAddr:     testenv.RedisAddr(t),
		Namespace:     strings.TrimSuffix(testenv.Prefix(t), ":"),
		FloorPrefix:   testenv.Prefix(t) + "floor:",
		Counters:      4,
		Writers:       2,
		Readers:       3,
		ReadsPerWrite: 3,
		Duration:      1500 * time.Millisecond,
		MinOps:        60,
		MaxOps:        100000,
	}
}

// createCounters creates table counter with ids 1..k at 0, and returns a bare connection to it.
func createCounters(t *testing.T, dsn string, k, coldCounters int) *sql.DB {
	t.Helper()
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	mustExec(t, bare, `CREATE TABLE counter (id int PRIMARY KEY, n bigint NOT NULL)`)
	mustExec(t, bare, `INSERT INTO counter SELECT g, 0 FROM generate_series(1, $1::int) g`, k+coldCounters)
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
		total.ColdReads += s.ColdReads
		total.ColdHits += s.ColdHits
		total.WriteThroughs += s.WriteThroughs
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
	st := stats(t, w.db)
	s := w.summary(st.Hits)
	s.WriteThroughs = st.WriteThroughs
	s.ColdReads, s.ColdHits = w.coldReads.Load(), stats(t, w.cold).Hits
	childReport(t, s)
}

// freshnessWorkers are the writers and readers of one child process.
type freshnessWorkers struct {
	cfg  freshnessConfig
	rdb  *redis.Client // the shared Redis: the cache's store, and the published floors
	db   *sql.DB       // through the wrapper
	cold *sql.DB       // through the wrapper too, for the cold counters alone (its own Stats)

	coldReads atomic.Uint64

	reads, writes, stale atomic.Uint64
	firstStale           atomic.Pointer[string]
}

func newFreshnessWorkers(t *testing.T, cfg freshnessConfig) *freshnessWorkers {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	rules := cacheAll(t)
	if slices.Contains(cfg.RowProcesses, cfg.Process) && cfg.Mode != "" {
		rules = mustRules(t,
			cachedsql.Rule{Name: "counter", Match: cachedsql.Match{SQL: counterRead}, Key: []string{"id"},
				TTL: time.Minute, WriteThrough: cfg.Mode == "write-through"},
			cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: time.Minute})
	}
	opts := cachedsql.Options{
		Redis:     rdb,
		Namespace: cfg.Namespace,
		Rules:     rules,
	}
	if cfg.Unchecked {
		cachedsql.SkipTokenCheck(&opts)
	}
	db, err := cachedsql.Open("pgx", cfg.DSN, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cold, err := cachedsql.Open("pgx", cfg.DSN, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cold.Close() })
	return &freshnessWorkers{cfg: cfg, rdb: rdb, db: db, cold: cold}
}

// run runs the writers and readers until cfg.Duration has passed and each has run cfg.MinOps
// iterations (but for 30s at most), and returns their errors.
func (w *freshnessWorkers) run() error {
	deadline, limit := time.Now().Add(w.cfg.Duration), time.Now().Add(30*time.Second)
	var wg sync.WaitGroup
	errs := make([]error, w.cfg.Writers+w.cfg.Readers)
	for i := range errs {
		wg.Go(func() {
			writer := i < w.cfg.Writers
			for op := 0; op < w.cfg.MaxOps && (op < w.cfg.MinOps || time.Now().Before(deadline)) && time.Now().Before(limit); op++ {
				id := 1 + (i+op)%w.cfg.Counters
				switch {
				case writer:
					errs[i] = w.writeThenRead(id)
				case w.cfg.ColdCounters > 0 && op%w.cfg.ColdEvery == 0:
					errs[i] = w.readCold(w.cfg.Counters + 1 + (i+op)%w.cfg.ColdCounters)
				default:
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
	if err := w.db.QueryRowContext(ctx, counterRead, id).Scan(&n); err != nil {
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

// counterRead reads one counter.
const counterRead = `SELECT n FROM counter WHERE id = $1`

// readCold reads counter id, which no one writes, through w.cold.
func (w *freshnessWorkers) readCold(id int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int64
	if err := w.cold.QueryRowContext(ctx, counterRead, id).Scan(&n); err != nil {
		return fmt.Errorf("process %d: read cold %d: %w", w.cfg.Process, id, err)
	}
	w.coldReads.Add(1)
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

// TestFreshnessRows is TestFreshness with row rules: every process reads counters through a row rule
// (with or without write-through), or only one does while the other caches whole results and learns
// the row rule's key from the store. There must be no stale read, and counters no one writes must stay
// hits although their table is written all the time; with table-level invalidation they mostly miss
// (measured in the same run, which shows the count can fail).
func TestFreshnessRows(t *testing.T) {
	t.Parallel()
	coldRatio := map[string]float64{}
	for _, tc := range []struct {
		name string
		mode string
		rows []int
	}{
		{"table", "", nil},
		{"row", "row", []int{0, 1}},
		{"write-through", "write-through", []int{0, 1}},
		{"mixed rules", "write-through", []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.Burn(t) // the child processes run on a saturated CPU, as on a loaded host
			cfg := baseFreshnessConfig(t)
			cfg.Mode, cfg.RowProcesses = tc.mode, tc.rows
			cfg.ColdCounters, cfg.ColdEvery = 4, 3
			dsn := cfg.DSN
			bare := createCounters(t, dsn, cfg.Counters, cfg.ColdCounters)
			total := runFreshnessChildren(t, cfg, 2)
			t.Logf("total: %d reads (%d hits), %d writes, %d stale; cold: %d reads, %d hits",
				total.Reads, total.Hits, total.Writes, total.Stale, total.ColdReads, total.ColdHits)
			checkCounterSum(t, bare, total.Writes)
			if total.Stale != 0 {
				t.Errorf("%d stale reads, want 0; first: %s", total.Stale, total.FirstStale)
			}
			if total.ColdReads < 100 {
				t.Fatalf("only %d cold reads: the test did not run long enough", total.ColdReads)
			}
			coldRatio[tc.name] = float64(total.ColdHits) / float64(total.ColdReads)
			if tc.mode == "write-through" && total.WriteThroughs == 0 {
				t.Errorf("no write-through happened")
			}
			if tc.mode == "" || len(tc.rows) < 2 {
				return
			}
			// Each reader of each process may miss each cold counter once (before the first fill); every
			// other cold read must hit, but for the odd early recompute (XFetch) or a lookup slower than
			// StoreTimeout on a loaded machine (a bypass).
			bound := uint64(2*cfg.ColdCounters*cfg.Readers) + total.ColdReads/20
			if misses := total.ColdReads - total.ColdHits; misses > bound {
				t.Errorf("%d of %d reads of counters no one writes were not hits, want at most %d",
					misses, total.ColdReads, bound)
			}
		})
	}
	t.Logf("cold hit ratios: %v", coldRatio)
	if coldRatio["table"] >= coldRatio["row"] {
		t.Errorf("cold hit ratio with table-level invalidation %.3f is not below row-level %.3f", coldRatio["table"], coldRatio["row"])
	}
}
