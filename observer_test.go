package cachedsql_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// recordingObserver keeps every event it is told about.
type recordingObserver struct {
	mu          sync.Mutex
	reads       []cachedsql.ReadEvent
	invalidates []cachedsql.InvalidateEvent
	storeErrs   []cachedsql.StoreErrorEvent
	queries     []cachedsql.QueryEvent
}

var (
	_ cachedsql.InvalidateObserver = (*recordingObserver)(nil)
	_ cachedsql.StoreErrorObserver = (*recordingObserver)(nil)
	_ cachedsql.QueryObserver      = (*recordingObserver)(nil)
)

func (o *recordingObserver) ObserveQuery(_ context.Context, ev cachedsql.QueryEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queries = append(o.queries, ev)
}

// takeQueries returns the query events recorded so far and forgets them.
func (o *recordingObserver) takeQueries() []cachedsql.QueryEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queries
	o.queries = nil
	return q
}

func (o *recordingObserver) ObserveRead(_ context.Context, ev cachedsql.ReadEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads = append(o.reads, ev)
}

func (o *recordingObserver) ObserveInvalidate(_ context.Context, ev cachedsql.InvalidateEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.invalidates = append(o.invalidates, ev)
}

func (o *recordingObserver) ObserveStoreError(_ context.Context, ev cachedsql.StoreErrorEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.storeErrs = append(o.storeErrs, ev)
}

// take returns the events recorded so far and forgets them.
func (o *recordingObserver) take() (reads []cachedsql.ReadEvent, invs []cachedsql.InvalidateEvent, errs []cachedsql.StoreErrorEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	reads, invs, errs = o.reads, o.invalidates, o.storeErrs
	o.reads, o.invalidates, o.storeErrs = nil, nil, nil
	return reads, invs, errs
}

// observerRules caches reads of users, and disables caching for reads of orders.
func observerRules(t *testing.T) *cachedsql.Rules {
	t.Helper()
	rs, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "orders-off", Match: cachedsql.Match{TablesAny: []string{"orders"}}, Disabled: true},
		cachedsql.Rule{Name: "users", Match: cachedsql.Match{TablesAny: []string{"users"}}, TTL: time.Minute},
	)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// readEvent is the event a read of query under rule with outcome o and bypass reason why is expected to
// give, fingerprint included; Duration is left out.
func readEvent(query, rule string, o cachedsql.Outcome, why cachedsql.BypassReason) cachedsql.ReadEvent {
	st := keying.Analyze(query)
	return cachedsql.ReadEvent{Query: query, Fingerprint: st.Fingerprint, Normalized: st.Normalized, Rule: rule,
		Outcome: o, Bypass: why}
}

func TestObserverReadEvents(t *testing.T) {
	obs := &recordingObserver{}
	_, db := openSQLite(t, cachedsql.Options{Observer: obs, Rules: observerRules(t)})
	ctx := context.Background()
	const users = `SELECT name FROM users WHERE id = ?`
	const orders = `SELECT total FROM orders`
	tests := []struct {
		name string
		run  func(t *testing.T)
		want []cachedsql.ReadEvent
	}{
		{"miss", func(t *testing.T) { queryAll(t, db, ctx, users, 1) },
			[]cachedsql.ReadEvent{readEvent(users, "users", cachedsql.OutcomeMiss, 0)}},
		{"hit", func(t *testing.T) { queryAll(t, db, ctx, users, 1) },
			[]cachedsql.ReadEvent{readEvent(users, "users", cachedsql.OutcomeHit, 0)}},
		{"no rule", func(t *testing.T) { queryAll(t, db, ctx, `SELECT 1`) },
			[]cachedsql.ReadEvent{readEvent(`SELECT 1`, "", cachedsql.OutcomeBypass, cachedsql.BypassNoRule)}},
		{"rule disabled", func(t *testing.T) { queryAll(t, db, ctx, orders) },
			[]cachedsql.ReadEvent{readEvent(orders, "orders-off", cachedsql.OutcomeBypass, cachedsql.BypassRuleDisabled)}},
		{"context", func(t *testing.T) { queryAll(t, db, cachedsql.WithBypass(ctx), users, 1) },
			[]cachedsql.ReadEvent{readEvent(users, "users", cachedsql.OutcomeBypass, cachedsql.BypassContext)}},
		{"transaction", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			queryAll(t, tx, ctx, users, 1)
		}, []cachedsql.ReadEvent{readEvent(users, "users", cachedsql.OutcomeBypass, cachedsql.BypassTransaction)}},
		{"write through Query is no read", func(t *testing.T) {
			queryAll(t, db, ctx, `UPDATE orders SET total = total WHERE id = 1 RETURNING id`)
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs.take()
			tc.run(t)
			got, _, _ := obs.take()
			for i, ev := range got {
				// A hit says how long it took; the other outcomes are sent before the database is queried.
				if (ev.Outcome == cachedsql.OutcomeHit) != (ev.Duration > 0) {
					t.Errorf("%v event: duration %v", ev.Outcome, ev.Duration)
				}
				got[i].Duration = 0
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("read events\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("not cacheable", func(t *testing.T) {
		obs.take()
		queryAll(t, db, ctx, `SELECT random()`)
		got, _, _ := obs.take()
		want := readEvent(`SELECT random()`, "", cachedsql.OutcomeBypass, cachedsql.BypassNotCacheable)
		want.Detail = keying.Analyze(`SELECT random()`).Reason
		if len(got) != 1 || got[0] != want || want.Detail == "" {
			t.Errorf("read events %+v, want one bypass %+v with keying's reason as its detail", got, want)
		}
	})
}

// TestObserverQueryEvents: a QueryObserver hears how long the database took for each read that went to
// it (a miss's load, a bypass once its rows are closed, a failed query), and nothing of a hit.
func TestObserverQueryEvents(t *testing.T) {
	obs := &recordingObserver{}
	_, db := openSQLite(t, cachedsql.Options{Observer: obs, Rules: observerRules(t)})
	ctx := context.Background()
	const users = `SELECT name FROM users WHERE id = ?`
	const all = `SELECT name FROM users`
	query := func(q string, o cachedsql.Outcome, why cachedsql.BypassReason, rule string, rows int) cachedsql.QueryEvent {
		st := keying.Analyze(q)
		return cachedsql.QueryEvent{Query: q, Fingerprint: st.Fingerprint, Normalized: st.Normalized, Rule: rule,
			Outcome: o, Bypass: why, Rows: rows}
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
		want []cachedsql.QueryEvent
	}{
		{"miss", func(t *testing.T) { queryAll(t, db, ctx, users, 1) },
			[]cachedsql.QueryEvent{query(users, cachedsql.OutcomeMiss, 0, "users", 1)}},
		{"hit", func(t *testing.T) { queryAll(t, db, ctx, users, 1) }, nil},
		{"bypass", func(t *testing.T) { queryAll(t, db, cachedsql.WithBypass(ctx), all) },
			[]cachedsql.QueryEvent{query(all, cachedsql.OutcomeBypass, cachedsql.BypassContext, "users", 3)}},
		{"bypass read in part", func(t *testing.T) {
			rows, err := db.QueryContext(ctx, `SELECT 1 UNION ALL SELECT 2`)
			if err != nil {
				t.Fatal(err)
			}
			rows.Next()
			rows.Close()
		}, []cachedsql.QueryEvent{query(`SELECT 1 UNION ALL SELECT 2`, cachedsql.OutcomeBypass, cachedsql.BypassNoRule, "", 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs.takeQueries()
			tc.run(t)
			got := obs.takeQueries()
			for i, ev := range got {
				if ev.Duration <= 0 || ev.Err != nil || (ev.Outcome == cachedsql.OutcomeMiss) != (ev.Bytes > 0) {
					t.Errorf("query event %+v: want a duration, no error, and bytes for a miss only", ev)
				}
				got[i].Duration, got[i].Bytes = 0, 0
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("query events\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("failed bypass", func(t *testing.T) {
		obs.takeQueries()
		if _, err := db.QueryContext(ctx, `SELECT x FROM nosuch`); err == nil {
			t.Fatal("query of a missing table: no error")
		}
		if got := obs.takeQueries(); len(got) != 1 || got[0].Err == nil || got[0].Bypass != cachedsql.BypassNoRule {
			t.Errorf("query events %+v, want one bypass with the query's error", got)
		}
	})
	t.Run("bypass keeps column types", func(t *testing.T) {
		rows, err := db.QueryContext(cachedsql.WithBypass(ctx), all)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cts, err := rows.ColumnTypes()
		if err != nil || len(cts) != 1 || cts[0].DatabaseTypeName() != "TEXT" {
			t.Errorf("column types of a bypass: %v, %v; want one TEXT column", cts, err)
		}
	})
}

func TestObserverInvalidateEvents(t *testing.T) {
	obs := &recordingObserver{}
	_, db := openSQLite(t, cachedsql.Options{Observer: obs, Rules: observerRules(t)})
	_, rowDB := openSQLite(t, cachedsql.Options{Observer: obs, Rules: rowRules(t, false)})
	ctx := context.Background()
	const upd = `UPDATE users SET name = 'x' WHERE id = 3`
	tests := []struct {
		name string
		run  func(t *testing.T)
		want []cachedsql.InvalidateEvent
	}{
		{"write", func(t *testing.T) { mustExec(t, db, upd) },
			[]cachedsql.InvalidateEvent{{Query: upd, Tables: []string{"users"}}}},
		{"write pinned to rows under a row rule", func(t *testing.T) {
			mustExec(t, rowDB, `UPDATE users SET name = ? WHERE id IN (?, ?)`, "x", 1, 2)
		}, []cachedsql.InvalidateEvent{{Query: `UPDATE users SET name = ? WHERE id IN (?, ?)`, Tables: []string{"users"}, Rows: 2}}},
		{"DDL invalidates the database", func(t *testing.T) { mustExec(t, db, `CREATE INDEX i ON orders (total)`) },
			[]cachedsql.InvalidateEvent{{Query: `CREATE INDEX i ON orders (total)`}}},
		{"commit", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, tx, upd)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}, []cachedsql.InvalidateEvent{{Query: "COMMIT", Tables: []string{"users"}}}},
		{"rollback", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, tx, upd)
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs.take()
			start := time.Now()
			tc.run(t)
			_, got, _ := obs.take()
			for i := range got {
				if got[i].Time.Before(start) || got[i].Time.After(time.Now()) {
					t.Errorf("event %d: time %v outside the call", i, got[i].Time)
				}
				got[i].Time = time.Time{}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("invalidate events\n got %+v\nwant %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Query != tc.want[i].Query || !slices.Equal(got[i].Tables, tc.want[i].Tables) ||
					(got[i].Tables == nil) != (tc.want[i].Tables == nil) || got[i].Rows != tc.want[i].Rows {
					t.Errorf("invalidate event %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// captureHandler is a slog.Handler that keeps every record.
type captureHandler struct {
	mu      *sync.Mutex
	records *[]slog.Record
}

func newCaptureHandler() captureHandler {
	return captureHandler{mu: new(sync.Mutex), records: new([]slog.Record)}
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h captureHandler) WithGroup(string) slog.Handler            { return h }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r.Clone())
	return nil
}

// warnings returns the messages of the Warn records so far.
func (h captureHandler) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range *h.records {
		if r.Level == slog.LevelWarn {
			out = append(out, r.Message)
		}
	}
	return out
}

func TestStoreDownEvents(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	obs := &recordingObserver{}
	logs := newCaptureHandler()
	opts := failOpenOptions(t, failFastClient(t, srv.Addr()))
	opts.Observer, opts.Logger = obs, slog.New(logs)
	_, db := openSQLite(t, opts)
	// With Redis up, reads report no store error; on a loaded host a call may still time out (the
	// fail-open bound working as documented): only a run of failures is wrong.
	for attempt := 1; ; attempt++ {
		readName(t, db, 1)
		_, _, errs := obs.take()
		if len(errs) == 0 {
			break
		}
		if attempt == 5 {
			t.Fatalf("store errors with a working store, %d reads in a row: %+v", attempt, errs)
		}
		t.Logf("read %d saw store errors (a loaded host?): %+v", attempt, errs)
	}
	srv.Stop()
	// The breaker opens once failures have gone on for a second (a loaded host's stall does not).
	eventually(t, "the breaker to open", func() bool {
		if got := readName(t, db, 1); got != "ann" {
			t.Fatalf("read during the outage: %q", got)
		}
		return stats(t, db).BreakerOpen
	})
	reads, _, errs := obs.take()
	if len(errs) == 0 {
		t.Fatal("no store error observed while Redis was down")
	}
	for _, e := range errs {
		if e.Err == nil || e.Op == "" {
			t.Errorf("store error event %+v: want an op and an error", e)
		}
	}
	if last := reads[len(reads)-1]; last.Outcome != cachedsql.OutcomeBypass || last.Bypass != cachedsql.BypassStore || last.Rule != "all" {
		t.Errorf("last read event %+v, want a bypass of rule all, reason store unavailable", last)
	}
	warned := false
	for _, m := range logs.warnings() {
		warned = warned || strings.Contains(m, "circuit breaker open")
	}
	if !warned {
		t.Errorf("warnings %q: want the breaker warning", logs.warnings())
	}
	if st := stats(t, db); !st.BreakerOpen {
		t.Errorf("breaker not open after %d store errors: %+v", len(errs), st)
	}
}
