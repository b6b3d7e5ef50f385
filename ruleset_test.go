package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
)

// userRuleOnly caches userByID as a row rule named "user", and nothing else.
func userRuleOnly(t testing.TB, writeThrough bool) *cachedsql.Rules {
	t.Helper()
	return mustRules(t, cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: userByID}, Key: []string{"id"},
		TTL: time.Minute, WriteThrough: writeThrough})
}

// countOnly caches countUsers only.
func countOnly(t testing.TB) *cachedsql.Rules {
	t.Helper()
	return mustRules(t, cachedsql.Rule{Name: "count", Match: cachedsql.Match{SQL: countUsers}, TTL: time.Minute})
}

func TestSetRules(t *testing.T) {
	t.Parallel()
	_, db := openSQLite(t, cachedsql.Options{Rules: userRuleOnly(t, false)})
	ctx := context.Background()
	if h, m := hitsOf(t, db, func() { userName(t, db, 1); userName(t, db, 1) }); h != 1 || m != 1 {
		t.Fatalf("under the first rules: %d hits, %d misses; want 1, 1", h, m)
	}

	// Without the rule, the read is not cached; the rule's counters go, the new rule's appear.
	if err := cachedsql.SetRules(db, countOnly(t)); err != nil {
		t.Fatal(err)
	}
	before := stats(t, db).Bypasses[cachedsql.BypassNoRule]
	if h, m := hitsOf(t, db, func() { userName(t, db, 1) }); h != 0 || m != 0 {
		t.Errorf("after the rule was removed: %d hits, %d misses; want a bypass", h, m)
	}
	st := stats(t, db)
	if st.Bypasses[cachedsql.BypassNoRule] != before+1 {
		t.Errorf("no-rule bypasses %d → %d, want one more", before, st.Bypasses[cachedsql.BypassNoRule])
	}
	if _, ok := st.Rules["user"]; ok {
		t.Errorf("Stats.Rules still has the removed rule: %+v", st.Rules)
	}
	if _, ok := st.Rules["count"]; !ok {
		t.Errorf("Stats.Rules lacks the new rule: %+v", st.Rules)
	}
	queryAll(t, db, ctx, countUsers)
	queryAll(t, db, ctx, countUsers)
	if r := stats(t, db).Rules["count"]; r.Hits != 1 || r.Misses != 1 {
		t.Errorf("the new rule: %+v, want 1 hit and 1 miss", r)
	}

	// Back again, with write-through: the entry filled under the first rules is still valid (no write
	// since), and a write now writes through, as under a rule given at Open.
	if err := cachedsql.SetRules(db, userRuleOnly(t, true)); err != nil {
		t.Fatal(err)
	}
	if h, _ := hitsOf(t, db, func() { userName(t, db, 1) }); h != 1 {
		t.Errorf("the entry filled before the rule went and came back: not a hit")
	}
	if r := stats(t, db).Rules["user"]; r.Hits != 1 {
		t.Errorf("the re-added rule's counters: %+v, want them started afresh (1 hit)", r)
	}
	userName(t, db, 2)
	mustExec(t, db, `UPDATE users SET name = 'bob2' WHERE id = 2`)
	var name string
	h, _ := hitsOf(t, db, func() { name = userName(t, db, 2) })
	if name != "bob2" || h != 1 {
		t.Errorf("after a write under the reloaded write-through rule: %q, hit %v; want bob2 and a hit", name, h == 1)
	}

	if err := cachedsql.SetRules(mustOpenBare(t), nil); err == nil {
		t.Error("SetRules on a *sql.DB not opened by cachedsql: no error")
	}
}

// mustOpenBare opens a plain SQLite database.
func mustOpenBare(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "bare.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSetRulesInFlight: a read whose query is running when its rule is removed finishes under it; a
// read that begins once SetRules has returned uses the new rules, even while the first is still running.
func TestSetRulesInFlight(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	hold, release := make(chan struct{}), make(chan struct{})
	var armed atomic.Bool
	opts := cachedsql.Options{Rules: userRuleOnly(t, false), Observer: obs}
	cachedsql.Hooks(&opts, nil, func() {
		if armed.CompareAndSwap(true, false) {
			close(hold)
			<-release
		}
	}, nil)
	_, db := openSQLite(t, opts)
	armed.Store(true)
	done := make(chan string)
	go func() { done <- userName(t, db, 1) }()
	<-hold // the read missed under "user" and its query is about to run

	if err := cachedsql.SetRules(db, countOnly(t)); err != nil {
		t.Fatal(err)
	}
	obs.take()
	if got := userName(t, db, 2); got != "bob" {
		t.Errorf("read after SetRules: %q, want bob", got)
	}
	reads, _, _ := obs.take()
	if len(reads) != 1 || reads[0].Rule != "" || reads[0].Bypass != cachedsql.BypassNoRule {
		t.Errorf("read after SetRules returned: %+v, want a bypass for \"no rule\"", reads)
	}

	close(release)
	if got := <-done; got != "ann" {
		t.Errorf("the read in flight: %q, want ann", got)
	}
	if st := stats(t, db); st.Fills != 1 {
		t.Errorf("fills %d, want 1: the read in flight finished under the rule it began with", st.Fills)
	}
}

// readRecord is what one read of TestSetRulesConcurrent learns: the observer fills it.
type readRecord struct {
	rule string
	seen bool
}

type readRecordKey struct{}

// recordObserver records each read's rule in the readRecord of its context.
type recordObserver struct{}

func (recordObserver) ObserveRead(ctx context.Context, ev cachedsql.ReadEvent) {
	if r, ok := ctx.Value(readRecordKey{}).(*readRecord); ok {
		r.rule, r.seen = ev.Rule, true
	}
}

// TestSetRulesConcurrent: rules replaced over and over while reads run: no read fails or is wrong, and
// none that ran between two replacements (it began after one returned and ended before the next began)
// is read under other rules than those of the first.
func TestSetRulesConcurrent(t *testing.T) {
	t.Parallel()
	_, db := openSQLite(t, cachedsql.Options{Rules: userRuleOnly(t, false), Observer: recordObserver{}})
	// gen counts replacements begun; ruleOf[gen] is the rule the rules in force then cache userByID under,
	// once the replacement has returned (odd gen: "user", even: none).
	var gen, settled atomic.Int64
	gen.Store(1)
	settled.Store(1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var checked, bad atomic.Int64
	var firstBad atomic.Value
	names := map[int]string{1: "ann", 2: "bob", 3: "cy"}
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := 1 + (g+i)%3
				before, ok := gen.Load(), settled.Load() == gen.Load()
				rec := new(readRecord)
				ctx := context.WithValue(context.Background(), readRecordKey{}, rec)
				var got int
				var name string
				if err := db.QueryRowContext(ctx, userByID, id).Scan(&got, &name); err != nil {
					t.Errorf("read %d: %v", id, err)
					return
				}
				if name != names[id] {
					t.Errorf("read %d: %q, want %q", id, name, names[id])
					return
				}
				if !ok || gen.Load() != before || !rec.seen {
					continue // overlapped a replacement: either rules may serve it
				}
				checked.Add(1)
				want := ""
				if before%2 == 1 {
					want = "user"
				}
				if rec.rule != want {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("rules of generation %d cache it under %q, read under %q", before, want, rec.rule))
				}
			}
		})
	}
	for i := 2; i <= 41; i++ {
		next := userRuleOnly(t, false)
		if i%2 == 0 {
			next = countOnly(t)
		}
		gen.Store(int64(i))
		if err := cachedsql.SetRules(db, next); err != nil {
			t.Fatal(err)
		}
		settled.Store(int64(i))
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d of %d reads between replacements used other rules than those in force: first: %v",
			bad.Load(), checked.Load(), firstBad.Load())
	}
	if checked.Load() == 0 {
		t.Error("no read ran between two replacements")
	}
}

func TestWatchRules(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	_, db := openSQLite(t, cachedsql.Options{Observer: obs})
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	write := func(text string) {
		t.Helper()
		tmp := filepath.Join(t.TempDir(), "next.yaml")
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	ruleFile := func(name string) string {
		return "version: 1\nrules:\n  - name: " + name + "\n    match:\n      sql: " + userByID + "\n    ttl: 1m\n"
	}
	ruleOf := func() string {
		t.Helper()
		obs.take()
		userName(t, db, 1)
		reads, _, _ := obs.take()
		if len(reads) != 1 {
			t.Fatalf("reads observed: %+v, want one", reads)
		}
		return reads[0].Rule
	}

	write("version: 1\nrules:\n  - name: [broken\n")
	if err := cachedsql.WatchRules(t.Context(), db, 10*time.Millisecond, nil, dir); err == nil ||
		!strings.Contains(err.Error(), "rules.yaml:") {
		t.Fatalf("WatchRules of a broken file: %v, want an error naming rules.yaml and a line", err)
	}

	write(ruleFile("first"))
	loads := make(chan error, 10)
	if err := cachedsql.WatchRules(t.Context(), db, 10*time.Millisecond, func(err error) { loads <- err }, dir); err != nil {
		t.Fatal(err)
	}
	if got := ruleOf(); got != "first" {
		t.Fatalf("rule after WatchRules: %q, want first", got)
	}
	wait := func() error {
		t.Helper()
		select {
		case err := <-loads:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("no reload within 30s of a change")
			return nil
		}
	}

	write(ruleFile("second"))
	if err := wait(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := ruleOf(); got != "second" {
		t.Errorf("rule after the file changed: %q, want second", got)
	}

	write("version: 1\nrules:\n  - name: third\n    match:\n      sql: " + userByID + "\n    ttl: -5s\n")
	err := wait()
	var re *cachedsql.RuleError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "rules.yaml:") {
		t.Fatalf("reload of a bad file: %v, want a *RuleError naming rules.yaml and a line", err)
	}
	if got := ruleOf(); got != "second" {
		t.Errorf("rule after a bad file: %q, want second still in force", got)
	}
}
