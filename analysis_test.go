package cachedsql_test

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
)

// openAcct opens a SQLite database through the wrapper with a row rule on acct and a table rule for
// everything else, and acct holding (1, 10) and (2, 20).
func openAcct(t *testing.T, opts cachedsql.Options) (bare, db *sql.DB) {
	t.Helper()
	rs, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "acct-row", Match: cachedsql.Match{SQL: `SELECT id, bal FROM acct WHERE id = ?`},
			Key: []string{"id"}, TTL: time.Minute},
		cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: time.Minute},
	)
	if err != nil {
		t.Fatal(err)
	}
	opts.Rules = rs
	bare, db = openSQLite(t, opts)
	mustExec(t, bare, `CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER)`)
	mustExec(t, bare, `INSERT INTO acct VALUES (1, 10), (2, 20)`)
	return bare, db
}

func balance(t *testing.T, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id int) int {
	t.Helper()
	var got, bal int
	if err := db.QueryRowContext(context.Background(), `SELECT id, bal FROM acct WHERE id = ?`, id).Scan(&got, &bal); err != nil {
		t.Fatal(err)
	}
	return bal
}

func total(t *testing.T, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT sum(bal) FROM acct`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOperatorRunStatements is the regression test of issue 8, item 9: a statement holding a run of
// + and - (bal+-1) panicked inside statement analysis and took the application down. Through Exec
// and Query, it must run, return the database's result, and invalidate what it wrote.
func TestOperatorRunStatements(t *testing.T) {
	t.Parallel()
	_, db := openAcct(t, cachedsql.Options{})
	ctx := context.Background()
	for range 2 { // fill, then hit
		if b, n := balance(t, db, 1), total(t, db); b != 10 || n != 30 {
			t.Fatalf("before: balance %d total %d, want 10 30", b, n)
		}
	}
	if st := stats(t, db); st.Hits < 2 {
		t.Fatalf("reads were not cached: %+v", st)
	}
	res := mustExec(t, db, `UPDATE acct SET bal = bal+-1 WHERE id = 1`)
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("UPDATE … bal+-1: %d rows affected, want 1", n)
	}
	if b, n := balance(t, db, 1), total(t, db); b != 9 || n != 29 {
		t.Fatalf("after bal+-1: balance %d total %d, want 9 29", b, n)
	}
	var bal int
	if err := db.QueryRowContext(ctx, `UPDATE acct SET bal = bal-+-1 WHERE id = 1-+-0 RETURNING bal`).Scan(&bal); err != nil || bal != 10 {
		t.Fatalf("UPDATE … bal-+-1 RETURNING: %d, %v; want 10", bal, err)
	}
	if b, n := balance(t, db, 1), total(t, db); b != 10 || n != 30 {
		t.Fatalf("after bal-+-1: balance %d total %d, want 10 30", b, n)
	}
	mustExec(t, db, "UPDATE acct SET bal = bal+--1\n1 WHERE id = 2") // "--1" is a comment: bal = bal + 1
	if b := balance(t, db, 2); b != 21 {
		t.Fatalf("after bal+--1: balance %d, want 21", b)
	}
	for range 2 {
		var v int
		if err := db.QueryRowContext(ctx, `SELECT bal+-1 FROM acct WHERE id = 2-+-0`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if want := total(t, db) - 10 - 1; v != want {
			t.Fatalf("SELECT bal+-1 …: %d, want %d", v, want)
		}
	}
}

// warnCounter counts the Warn records logged.
type warnCounter struct {
	slog.Handler
	warns atomic.Int64
}

func (h *warnCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h *warnCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.warns.Add(1)
	}
	return nil
}

// TestAnalysisPanic: a panic inside statement analysis is a bypass with the reason "analysis failed"
// for a read, a replaced epoch for a write, and one Warn in the log, never a crash (issue 8, item 9).
func TestAnalysisPanic(t *testing.T) {
	t.Parallel()
	const (
		read     = `SELECT name FROM users WHERE id = 1`
		write    = `UPDATE users SET name = 'zed' WHERE id = 1`
		other    = `SELECT total FROM orders WHERE id = 1`
		rowWrite = `UPDATE acct SET bal = 11 WHERE id = 1`
	)
	for _, tt := range []struct {
		site, query string
	}{
		{"plan", read},
		{"plan", write},
		{"effect", write},
		{"effect", rowWrite},
		{"row", `SELECT id, bal FROM acct WHERE id = ?`},
		{"args", `SELECT id, bal FROM acct WHERE id = ?`},
	} {
		t.Run(tt.site+" "+tt.query, func(t *testing.T) {
			logs := &warnCounter{Handler: slog.DiscardHandler}
			opts := cachedsql.Options{Logger: slog.New(logs)}
			cachedsql.InjectAnalysis(&opts, func(site, query string) {
				if site == tt.site && query == tt.query {
					panic("injected analysis failure")
				}
			})
			bare, db := openAcct(t, opts)
			ctx := context.Background()
			writer, reader := newConn(t, db), newConn(t, db)
			name := func() (n string) {
				t.Helper()
				if err := reader.QueryRowContext(ctx, read).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			orders := func() (n int) {
				t.Helper()
				if err := reader.QueryRowContext(ctx, other).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			for range 2 {
				name()
				orders()
				balance(t, reader, 1)
			}
			switch {
			case tt.query == read:
				if got := name(); got != "ann" {
					t.Errorf("read: got %q, want ann", got)
				}
				if st := stats(t, db); st.Bypasses[cachedsql.BypassAnalysisFailed] == 0 {
					t.Errorf("read whose analysis panicked: bypasses %v, want \"analysis failed\"", st.Bypasses)
				}
			case tt.site == "row" || tt.site == "args":
				mustExec(t, bare, `UPDATE acct SET bal = 12 WHERE id = 1`)
				if got := balance(t, reader, 1); got != 12 {
					t.Errorf("row read whose analysis panicked: got %d, want the database's 12", got)
				}
				if st := stats(t, db); st.Bypasses[cachedsql.BypassAnalysisFailed] == 0 {
					t.Errorf("bypasses %v, want \"analysis failed\"", st.Bypasses)
				}
			default: // a write: it runs, and replaces the epoch, so even orders is read again
				mustExec(t, writer, tt.query)
				misses := stats(t, db).Misses
				if tt.query == write {
					if got := name(); got != "zed" {
						t.Errorf("after the write: got %q, want zed", got)
					}
				} else if got := balance(t, reader, 1); got != 11 {
					t.Errorf("after the write: balance %d, want 11", got)
				}
				orders()
				if stats(t, db).Misses < misses+2 {
					t.Errorf("a write whose analysis panicked did not replace the epoch: %+v", stats(t, db))
				}
				// A plain UPDATE does not change the session: the writer's reads are still cached.
				hits := stats(t, db).Hits
				var n int
				for range 2 {
					if err := writer.QueryRowContext(ctx, other).Scan(&n); err != nil {
						t.Fatal(err)
					}
				}
				if stats(t, db).Hits == hits {
					t.Errorf("the writer's reads bypass the cache after a plain UPDATE: %+v", stats(t, db))
				}
			}
			if n := logs.warns.Load(); n != 1 {
				t.Errorf("%d Warn records, want 1", n)
			}
		})
	}
}

// TestPlainFirstWord covers the fallback that decides what a statement whose analysis failed is.
func TestPlainFirstWord(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]string{
		"SELECT 1":                                     "select",
		"  ( select 1)":                                "select",
		"-- name: X :one\nSELECT 1":                    "select",
		"/* hint */ Update t SET a = 1":                "update",
		"SELECT * INTO t2 FROM t":                      "",
		"SELECT 1; DROP TABLE t":                       "",
		`SELECT "set_config"('search_path','x',false)`: "",
		"DO $$ BEGIN END $$":                           "do",
		"-- only a comment":                            "",
		"/* unterminated":                              "",
		"":                                             "",
	} {
		if got := cachedsql.PlainFirstWord(q); got != want {
			t.Errorf("PlainFirstWord(%q) = %q, want %q", q, got, want)
		}
	}
}

// TestRulesAnalysisPanic: a rule whose statement makes analysis panic is a problem of the rule, not a
// crash of the program loading it.
func TestRulesAnalysisPanic(t *testing.T) {
	t.Parallel()
	msg := cachedsql.Analysed(func() error { panic("injected") })
	if !strings.Contains(msg, "match.sql") || !strings.Contains(msg, "analysis failed") || !strings.Contains(msg, "injected") {
		t.Errorf("got %q, want a match.sql problem naming the panic", msg)
	}
}

// TestParseRulesOperatorRuns is the rule-file side of issue 8, item 9: a match.sql holding a run of +
// and - made ParseRules panic.
func TestParseRulesOperatorRuns(t *testing.T) {
	t.Parallel()
	rs, err := cachedsql.ParseRules("ops.yaml", []byte(operatorRunRules))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rs.All()); got != 2 {
		t.Fatalf("%d rules, want 2", got)
	}
}

// operatorRunRules is a rule file whose statements hold runs of + and - (also a FuzzParseRules seed).
const operatorRunRules = `version: 1
rules:
  - name: acct
    match:
      sql: SELECT id, bal FROM acct WHERE id = $1 AND bal > -+1
    key: [id]
  - name: sums
    match:
      sql: SELECT sum(bal+-1) FROM acct WHERE id = 1-+-2
`

// TestAnalysisPanicSession: a statement whose analysis panicked and that is not a plain read or DML
// may have changed the session (it could be a SET, a DO or a CALL): its connection's reads bypass.
func TestAnalysisPanicSession(t *testing.T) {
	t.Parallel()
	const pragma = `PRAGMA case_sensitive_like = ON`
	opts := cachedsql.Options{}
	cachedsql.InjectAnalysis(&opts, func(site, query string) {
		if query == pragma {
			panic("injected")
		}
	})
	_, db := openAcct(t, opts)
	ctx := context.Background()
	conn := newConn(t, db)
	mustExec(t, conn, pragma)
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE name LIKE 'A%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("count: %d, %v; want 0 (LIKE is case sensitive now: ann does not match A%%)", n, err)
	}
	if st := stats(t, db); st.Bypasses[cachedsql.BypassSessionChanged] != 1 {
		t.Errorf("bypasses %v, want one \"session changed\"", st.Bypasses)
	}
}
