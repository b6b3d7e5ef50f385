package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// A gated SQLite database: its function gate(x) counts its executions and blocks until the test opens
// the gate, so a test can hold a fill in the database while other readers arrive.
type gatedDB struct {
	calls atomic.Int64
	// entered receives once per execution; release, once closed, lets executions return.
	entered chan struct{}
	mu      sync.Mutex
	release chan struct{}
	fail    atomic.Bool // executions return an error instead
}

var (
	gatedMu      sync.Mutex
	gatedByName  = map[string]*gatedDB{}
	registerOnce sync.Once
)

// gatedDriver is registered once; each database file finds its gate by name.
func registerGated() {
	registerOnce.Do(func() {
		sql.Register("sqlite3-gated", &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			return c.RegisterFunc("gate", func(name string, x int64) (int64, error) {
				gatedMu.Lock()
				g := gatedByName[name]
				gatedMu.Unlock()
				g.calls.Add(1)
				g.entered <- struct{}{}
				g.mu.Lock()
				rel := g.release
				g.mu.Unlock()
				<-rel
				if g.fail.Load() {
					return 0, errors.New("gate: database failure")
				}
				return x, nil
			}, true)
		}})
	})
}

// openGated opens a SQLite file with a gate, through the wrapper, count times (count "processes"
// sharing opts' store), and returns the query that goes through the gate.
func openGated(t *testing.T, count int, opts cachedsql.Options) (*gatedDB, []*sql.DB, string) {
	t.Helper()
	registerGated()
	name := strings.ReplaceAll(t.Name(), "/", "_")
	g := &gatedDB{entered: make(chan struct{}, 1000), release: make(chan struct{})}
	gatedMu.Lock()
	gatedByName[name] = g
	gatedMu.Unlock()
	// WAL, so that a write can commit while a gated read holds its snapshot.
	path := filepath.Join(t.TempDir(), "gated.db") + "?_journal_mode=WAL"
	bare, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	mustExec(t, bare, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`)
	mustExec(t, bare, `INSERT INTO items VALUES (1, 'one'), (2, 'two')`)
	if opts.Rules == nil {
		opts.Rules = cacheAll(t)
	}
	var dbs []*sql.DB
	for range count {
		db, err := cachedsql.Open("sqlite3-gated", path, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	return g, dbs, fmt.Sprintf(`SELECT gate('%s', id), name FROM items WHERE id = ?`, name)
}

func (g *gatedDB) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

// readLater runs readGated in a goroutine; the channel gets its error.
func readLater(ctx context.Context, db *sql.DB, q string) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := readGated(ctx, db, q)
		ch <- err
	}()
	return ch
}

func readGated(ctx context.Context, db *sql.DB, q string) (string, error) {
	var id int64
	var name string
	err := db.QueryRowContext(ctx, q, 1).Scan(&id, &name)
	return name, err
}

// TestSingleFlight: N concurrent misses of one entry in one process cost one database execution;
// with single flight off (NoDedup, no lease) the same test costs N, so it can fail.
// afterLookups sets o's afterTokens hook so that the returned channel is closed once n reads have
// looked the cache up.
func afterLookups(o *cachedsql.Options, n int64) <-chan struct{} {
	var looked atomic.Int64
	done := make(chan struct{})
	cachedsql.Hooks(o, func() {
		if looked.Add(1) == n {
			close(done)
		}
	}, nil, nil)
	return done
}

func TestSingleFlight(t *testing.T) {
	const n = 20
	for _, dedup := range []bool{true, false} {
		t.Run(fmt.Sprintf("dedup=%v", dedup), func(t *testing.T) {
			opts := cachedsql.Options{}
			allLooked := afterLookups(&opts, n)
			if !dedup {
				cachedsql.NoDedup(&opts)
				opts.Rules = mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, NoLease: true})
			}
			g, dbs, q := openGated(t, 1, opts)
			db := dbs[0]
			db.SetMaxOpenConns(n + 1)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Go(func() {
					name, err := readGated(context.Background(), db, q)
					if err == nil && name != "one" {
						err = fmt.Errorf("got %q", name)
					}
					errs <- err
				})
			}
			if dedup {
				<-allLooked // every reader has missed: one holds the gate, the others wait for it
			} else {
				for range n {
					<-g.entered // every reader is in the database
				}
			}
			g.open()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			want := int64(1)
			if !dedup {
				want = n
			}
			if got := g.calls.Load(); got != want {
				t.Errorf("database executions: %d, want %d", got, want)
			}
		})
	}
}

// TestRecheckInsideFlight forces the interleaving the re-check prevents: A misses; B misses, loads
// and fills, and its flight ends; only then does A start a flight, which must find B's entry instead
// of querying the database again.
func TestRecheckInsideFlight(t *testing.T) {
	opts := cachedsql.Options{}
	var calls atomic.Int64
	aLooked, resumeA := make(chan struct{}), make(chan struct{})
	cachedsql.Hooks(&opts, func() {
		if calls.Add(1) == 1 { // A
			close(aLooked)
			<-resumeA
		}
	}, nil, nil)
	g, dbs, q := openGated(t, 1, opts)
	g.open()
	db := dbs[0]
	aDone := readLater(context.Background(), db, q)
	<-aLooked
	if _, err := readGated(context.Background(), db, q); err != nil { // B, start to end
		t.Fatal(err)
	}
	close(resumeA)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	if got := g.calls.Load(); got != 1 {
		t.Errorf("database executions: %d, want 1 (A queried again instead of finding B's fill)", got)
	}
}

// TestLeaseAcrossProcesses: two caches sharing Redis stand for two processes. While the first holds
// the fill lease, the second waits for its fill instead of querying.
func TestLeaseAcrossProcesses(t *testing.T) {
	opts := cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t)}
	g, dbs, q := openGated(t, 2, opts)
	first := readLater(context.Background(), dbs[0], q)
	<-g.entered // the first process holds the lease and is in the database
	second := make(chan error)
	go func() {
		name, err := readGated(context.Background(), dbs[1], q)
		if err == nil && name != "one" {
			err = fmt.Errorf("got %q", name)
		}
		second <- err
	}()
	eventually(t, "the second process to wait for the lease", func() bool {
		return stats(t, dbs[1]).LeaseWaits == 1
	})
	g.open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := g.calls.Load(); got != 1 {
		t.Errorf("database executions: %d, want 1", got)
		t.Logf("first %+v", stats(t, dbs[0]))
		t.Logf("second %+v", stats(t, dbs[1]))
	}
	st := stats(t, dbs[1])
	if st.LeasesContended != 1 || st.LeaseWaitTimeouts != 0 {
		t.Errorf("second process: contended %d, wait timeouts %d; want 1 and 0", st.LeasesContended, st.LeaseWaitTimeouts)
	}
}

// TestLeaseWaitTimesOut: a fill held longer than the rule's lock wait makes the waiter query the
// database itself.
func TestLeaseWaitTimesOut(t *testing.T) {
	opts := cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t),
		Rules: mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, LockWait: 30 * time.Millisecond})}
	g, dbs, q := openGated(t, 2, opts)
	first := readLater(context.Background(), dbs[0], q)
	<-g.entered
	second := readLater(context.Background(), dbs[1], q)
	<-g.entered // the second process gave up waiting and is in the database too
	g.open()
	if err := errors.Join(<-first, <-second); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, dbs[1]); st.LeaseWaitTimeouts != 1 || g.calls.Load() != 2 {
		t.Errorf("wait timeouts %d, executions %d; want 1 and 2", st.LeaseWaitTimeouts, g.calls.Load())
	}
}

// TestWaiterGivesUpAlone: a waiter whose context ends returns its error at once; the load goes on and
// serves the others.
func TestWaiterGivesUpAlone(t *testing.T) {
	opts := cachedsql.Options{}
	waiterLooked := afterLookups(&opts, 2)
	g, dbs, q := openGated(t, 1, opts)
	db := dbs[0]
	leader := readLater(context.Background(), db, q)
	<-g.entered
	ctx, cancel := context.WithCancel(context.Background())
	waiter := readLater(ctx, db, q)
	<-waiterLooked // the waiter has missed and is joining the leader's load
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v, want context.Canceled", err)
	}
	g.open()
	if err := <-leader; err != nil {
		t.Errorf("leader after a waiter gave up: %v", err)
	}
	if got := g.calls.Load(); got != 1 {
		t.Errorf("database executions: %d, want 1", got)
	}
}

// TestFillErrorReachesWaiters: a failing load fails every caller that waited for it, with its error,
// and no caller gets rows.
func TestFillErrorReachesWaiters(t *testing.T) {
	const n = 5
	opts := cachedsql.Options{}
	allLooked := afterLookups(&opts, n)
	g, dbs, q := openGated(t, 1, opts)
	g.fail.Store(true)
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := readGated(context.Background(), dbs[0], q)
			errs <- err
		}()
	}
	<-allLooked
	g.open()
	for range n {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "gate: database failure") {
			t.Errorf("caller: %v, want the database's error", err)
		}
	}
	// Errors are not cached: a caller that missed but joined only after the failed flight ended runs
	// a load of its own. Which callers joined in time is not deterministic, so only the bounds are;
	// lockstore's Group tests force the interleavings.
	if got := g.calls.Load(); got < 1 || got > n {
		t.Errorf("database executions: %d, want 1 to %d", got, n)
	}
}

// TestNoJoiningAnOlderFlight: a read that begins after a write has returned must not take the result
// of a load that began before the write (found by the two-process freshness test).
func TestNoJoiningAnOlderFlight(t *testing.T) {
	opts := cachedsql.Options{}
	followerLooked := afterLookups(&opts, 2)
	g, dbs, q := openGated(t, 1, opts)
	db := dbs[0]
	leader := make(chan string)
	go func() {
		name, err := readGated(context.Background(), db, q)
		if err != nil {
			t.Error(err)
		}
		leader <- name
	}()
	<-g.entered // the leader's load has read the old row and is held in the database
	mustExec(t, db, `UPDATE items SET name = 'uno' WHERE id = 1`)
	follower := make(chan string)
	go func() {
		name, err := readGated(context.Background(), db, q)
		if err != nil {
			t.Error(err)
		}
		follower <- name
	}()
	<-followerLooked // the follower missed after the write returned, and finds the leader's flight
	g.open()
	if got := <-leader; got != "one" {
		t.Errorf("leader: %q, want its snapshot's %q", got, "one")
	}
	if got := <-follower; got != "uno" {
		t.Errorf("follower that began after the write: %q, want %q", got, "uno")
	}
}

// stampedeLog records stampede events.
type stampedeLog struct {
	mu     sync.Mutex
	events []cachedsql.StampedeKind
}

func (l *stampedeLog) ObserveRead(context.Context, cachedsql.ReadEvent) {}
func (l *stampedeLog) ObserveStampede(_ context.Context, ev cachedsql.StampedeEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev.Kind)
}

func (l *stampedeLog) kinds() []cachedsql.StampedeKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]cachedsql.StampedeKind(nil), l.events...)
}

// TestStampedeObserver: the observer hears of the lease taken by one process and of the other's
// wait for its fill.
func TestStampedeObserver(t *testing.T) {
	var first, second stampedeLog
	opts := cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t)}
	g, dbs, q := openGated(t, 1, withObserver(opts, &first))
	other := openAnother(t, dbs[0], withObserver(opts, &second))
	done := readLater(context.Background(), dbs[0], q)
	<-g.entered
	waited := readLater(context.Background(), other, q)
	eventually(t, "the second process to wait", func() bool { return len(second.kinds()) == 1 })
	g.open()
	if err := errors.Join(<-done, <-waited); err != nil {
		t.Fatal(err)
	}
	want1 := []cachedsql.StampedeKind{cachedsql.LeaseAcquired}
	want2 := []cachedsql.StampedeKind{cachedsql.LeaseContended, cachedsql.LeaseWaited}
	if got := first.kinds(); fmt.Sprint(got) != fmt.Sprint(want1) {
		t.Errorf("first process: %v, want %v", got, want1)
	}
	if got := second.kinds(); fmt.Sprint(got) != fmt.Sprint(want2) {
		t.Errorf("second process: %v, want %v", got, want2)
	}
}

func withObserver(o cachedsql.Options, obs cachedsql.Observer) cachedsql.Options {
	o.Observer = obs
	return o
}

// openAnother opens the gated database of db again, as another process would, with opts.
func openAnother(t *testing.T, db *sql.DB, opts cachedsql.Options) *sql.DB {
	t.Helper()
	var path string
	if err := db.QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	if opts.Rules == nil {
		opts.Rules = cacheAll(t)
	}
	other, err := cachedsql.Open("sqlite3-gated", path+"?_journal_mode=WAL", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// TestStaleFillNeverServed forces the race the generation tokens exist for: a fill whose query read
// the row before a write, stored after the write returned, is tagged with the old tokens, so the next
// read misses and sees the write.
func TestStaleFillNeverServed(t *testing.T) {
	opts := cachedsql.Options{}
	inFill, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cachedsql.Hooks(&opts, nil, nil, func() {
		once.Do(func() {
			close(inFill)
			<-resume
		})
	})
	g, dbs, q := openGated(t, 1, opts)
	g.open()
	db := dbs[0]
	filled := make(chan string)
	go func() {
		name, err := readGated(context.Background(), db, q)
		if err != nil {
			t.Error(err)
		}
		filled <- name
	}()
	<-inFill // the rows were read (old name); the fill has not been stored yet
	mustExec(t, db, `UPDATE items SET name = 'uno' WHERE id = 1`)
	close(resume)
	if got := <-filled; got != "one" {
		t.Fatalf("the racing read: %q, want its snapshot's %q", got, "one")
	}
	if got, err := readGated(context.Background(), db, q); err != nil || got != "uno" {
		t.Fatalf("read after the write returned: %q, %v; want uno (a stale fill was served)", got, err)
	}
}

// TestLeaseExpiresMidFill: a fill that outlives its lease lets another process take the lease and fill
// too. Both fills are correct (the generation tokens guard them, not the lease), the slow filler's
// release does not delete the newer owner's lease, and the entry ends up valid.
func TestLeaseExpiresMidFill(t *testing.T) {
	rdb := testenv.Redis(t)
	ns := namespace(t)
	opts := cachedsql.Options{Redis: rdb, Namespace: ns,
		Rules: mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, LockWait: -1})}
	g, dbs, q := openGated(t, 2, opts)
	first := readLater(context.Background(), dbs[0], q)
	<-g.entered // the first process holds the lease and is in the database
	var lease string
	eventually(t, "the first fill's lease to appear", func() bool {
		keys, _ := rdb.Keys(context.Background(), ns+":l:*").Result()
		if len(keys) == 1 {
			lease = keys[0]
		}
		return lease != ""
	})
	eventually(t, "the first fill's lease to expire", func() bool {
		n, _ := rdb.Exists(context.Background(), lease).Result()
		return n == 0
	})
	second := readLater(context.Background(), dbs[1], q)
	<-g.entered // the second process took the expired lease and is in the database too
	owner, err := rdb.Get(context.Background(), lease).Result()
	if err != nil {
		t.Fatalf("the second process's lease: %v", err)
	}
	g.open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The first filler released after its lease had passed to the second: it must not have deleted it.
	if now, err := rdb.Get(context.Background(), lease).Result(); err == nil && now != owner {
		t.Errorf("lease owner changed from %q to %q", owner, now)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	for i, db := range dbs {
		if st := stats(t, db); st.LeasesAcquired != 1 {
			t.Errorf("process %d: leases acquired %d, want 1", i, st.LeasesAcquired)
		}
	}
	if got := g.calls.Load(); got != 2 {
		t.Errorf("database executions: %d, want 2", got)
	}
	if name, err := readGated(context.Background(), dbs[0], q); err != nil || name != "one" {
		t.Fatalf("read after both fills: %q, %v", name, err)
	}
	if st := stats(t, dbs[0]); st.Hits != 1 {
		t.Errorf("the entry is not valid after both fills: %+v", st)
	}
}
