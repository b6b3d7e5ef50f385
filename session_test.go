package cachedsql_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// pgTwoSchemas opens, through the wrapper with the default (memory) store, a PostgreSQL database
// whose connections start in a schema of the test's own, where acct holds 'main'; a second schema,
// returned, has a table of the same name holding 'other'. pgx runs in its simple protocol, since
// DISCARD ALL drops the statements its cache prepared.
func pgTwoSchemas(t testing.TB) (db *sql.DB, other string) {
	t.Helper()
	dsn := testenv.Postgres(t)
	if strings.Contains(dsn, "://") {
		dsn += "&default_query_exec_mode=simple_protocol"
	} else {
		dsn += " default_query_exec_mode=simple_protocol"
	}
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	var home string
	if err := bare.QueryRow(`SELECT current_schema()`).Scan(&home); err != nil {
		t.Fatal(err)
	}
	other = home + "_other"
	mustExec(t, bare, `CREATE SCHEMA `+other)
	t.Cleanup(func() { bare.Exec(`DROP SCHEMA IF EXISTS ` + other + ` CASCADE`) })
	mustExec(t, bare, `CREATE TABLE acct (id int PRIMARY KEY, who text)`)
	mustExec(t, bare, `INSERT INTO acct VALUES (1, 'main')`)
	mustExec(t, bare, `CREATE TABLE `+other+`.acct (id int PRIMARY KEY, who text)`)
	mustExec(t, bare, `INSERT INTO `+other+`.acct VALUES (1, 'other')`)
	mustExec(t, bare, `CREATE PROCEDURE set_other() LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('search_path', '`+other+`', false); END $$`)
	db, err = cachedsql.Open("pgx", dsn, cachedsql.Options{Rules: cacheAll(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, other
}

func who(t testing.TB, conn *sql.Conn) string {
	t.Helper()
	var w string
	if err := conn.QueryRowContext(context.Background(), `SELECT who FROM acct WHERE id = 1`).Scan(&w); err != nil {
		t.Fatal(err)
	}
	return w
}

func newConn(t testing.TB, db *sql.DB) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSessionPoisoning is the regression test of issue 8, item 6: a session that changed its
// search_path through DO, CALL or a quoted or qualified set_config filled the shared key with the
// other schema's rows, and other sessions were then served them.
func TestSessionPoisoning(t *testing.T) {
	changes := []string{
		`DO $$ BEGIN PERFORM set_config('search_path', '%s', false); END $$`,
		`CALL set_other()`,
		`SELECT "set_config"('search_path', '%s', false)`,
		`SELECT pg_catalog.set_config('search_path', '%s', false)`,
		`select SET_CONFIG('search_path', '%s', false)`,
		`SELECT * FROM (SELECT /* x */ set_config ('search_path', '%s', false)) s`,
		`WITH c AS (SELECT set_config('search_path', '%s', false)) SELECT * FROM c`,
		`SELECT set_config('search_path', $1, false)`,
	}
	for _, change := range changes {
		t.Run(change, func(t *testing.T) {
			db, other := pgTwoSchemas(t)
			ctx := context.Background()
			changed, fresh := newConn(t, db), newConn(t, db)
			stmt, args := strings.ReplaceAll(change, "%s", other), []any(nil)
			if strings.Contains(change, "$1") {
				args = append(args, other)
			}
			if strings.HasPrefix(strings.ToLower(stmt), "select") || strings.HasPrefix(stmt, "WITH") {
				rows, err := changed.QueryContext(ctx, stmt, args...)
				if err != nil {
					t.Fatal(err)
				}
				rows.Close()
			} else {
				mustExec(t, changed, stmt, args...)
			}
			for i := range 2 {
				if got := who(t, changed); got != "other" {
					t.Fatalf("changed session, read %d: got %q, want %q", i, got, "other")
				}
			}
			for i := range 2 {
				if got := who(t, fresh); got != "main" {
					t.Fatalf("other session, read %d: got %q, want %q (served the changed session's rows)", i, got, "main")
				}
			}
		})
	}
}

// TestSessionBackToBaseline: a PostgreSQL connection whose settings are reset is cached again, and
// one whose reset may not have happened is not.
func TestSessionBackToBaseline(t *testing.T) {
	tests := []struct {
		name         string
		change, back []string
		cached       bool // reads after back are served from the cache
		want         string
	}{
		{"RESET ALL", []string{`SET search_path = %s`}, []string{`RESET ALL`}, true, "main"},
		{"DISCARD ALL", []string{`CALL set_other()`, `SET search_path = %s`, `CREATE TEMP TABLE scratch (x int)`}, []string{`DISCARD ALL`}, true, "main"},
		{"RESET name", []string{`SET search_path = %s`}, []string{`RESET search_path`}, true, "main"},
		{"TO DEFAULT", []string{`SELECT set_config('search_path', '%s', false)`}, []string{`SET search_path TO DEFAULT`}, true, "main"},
		{"harmless", []string{`SET statement_timeout = '5s'`, `SET application_name = 'x'`, `SET lock_timeout = 1000`}, nil, true, "main"},
		{"one of two reset", []string{`SET search_path = %s`, `SET TimeZone = 'UTC'`}, []string{`RESET search_path`}, false, "main"},
		{"RESET ALL keeps temp", []string{`SET search_path = %s`, `CREATE TEMP TABLE scratch (x int)`}, []string{`RESET ALL`}, false, "main"},
		{"RESET ALL keeps unknown", []string{`CALL set_other()`}, []string{`RESET ALL`}, false, "main"},
		{"reset rolled back", []string{`SET search_path = %s`}, []string{`BEGIN`, `RESET search_path`, `ROLLBACK`}, false, "other"},
		{"reset committed", []string{`SET search_path = %s`}, []string{`BEGIN`, `RESET search_path`, `COMMIT`}, false, "main"},
		{"reset failed", []string{`SET search_path = %s`}, []string{`RESET no_such_setting_x`}, false, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) {
				db, other := pgTwoSchemas(t)
				watch(db)
				conn := newConn(t, db)
				ctx := context.Background()
				for _, s := range tt.change {
					mustExec(t, conn, strings.ReplaceAll(s, "%s", other))
				}
				if len(tt.change) > 0 && !strings.Contains(tt.name, "harmless") {
					before := stats(t, db).Bypasses[cachedsql.BypassSessionChanged]
					who(t, conn)
					if stats(t, db).Bypasses[cachedsql.BypassSessionChanged] == before {
						t.Fatalf("read after %q was not bypassed", tt.change)
					}
				}
				for _, s := range tt.back {
					conn.ExecContext(ctx, s) // RESET no_such_setting_x fails: its error is the point
				}
				hits := stats(t, db).Hits
				for i := range 2 {
					if got := who(t, conn); got != tt.want {
						t.Fatalf("read %d after %q: got %q, want %q", i, tt.back, got, tt.want)
					}
				}
				if got := stats(t, db).Hits > hits; got != tt.cached {
					t.Errorf("after %q then %q: served from the cache = %v, want %v (stats %+v)", tt.change, tt.back, got, tt.cached, stats(t, db))
				}
				if got := who(t, newConn(t, db)); got != "main" {
					t.Errorf("another session: got %q, want %q", got, "main")
				}
			})
		})
	}
}

// TestSQLiteForeignKeysToggle: GORM turns foreign keys off and on again around SQLite migrations;
// that must not make the connection bypass the cache for life (issue 8, item 6).
func TestSQLiteForeignKeysToggle(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	mustExec(t, db, `PRAGMA foreign_keys = ON`)
	mustExec(t, db, `PRAGMA foreign_keys = OFF`)
	mustExec(t, db, `CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES users(id) ON DELETE CASCADE, name TEXT)`)
	mustExec(t, db, `INSERT INTO pets VALUES (1, 1, 'rex')`)
	mustExec(t, db, `PRAGMA foreign_keys = ON`)
	mustExec(t, db, `PRAGMA busy_timeout = 5000`)
	mustExec(t, db, `PRAGMA journal_mode = WAL`)
	hits := stats(t, db).Hits
	for range 2 {
		if got := queryAll(t, db, ctx, `SELECT name FROM pets WHERE owner = 1`); len(got) != 1 || got[0][0] != "rex" {
			t.Fatalf("got %v, want [[rex]]", got)
		}
	}
	if st := stats(t, db); st.Hits == hits || st.Bypasses[cachedsql.BypassSessionChanged] != 0 {
		t.Errorf("reads after PRAGMA foreign_keys OFF/ON: hits %d→%d, bypasses %v; want a hit and no session bypass", hits, st.Hits, st.Bypasses)
	}
	var fk int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("PRAGMA foreign_keys = %d, %v; want 1", fk, err)
	}
}

// TestGORMSQLiteForeignKeys: GORM's SQLite migrator runs PRAGMA foreign_keys = OFF, then ON again,
// around DropTable and column changes when foreign keys are on; the reads that follow are cached.
func TestGORMSQLiteForeignKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gorm.db")
	db, err := cachedsql.Open("sqlite3", "file:"+path+"?_foreign_keys=1", cachedsql.Options{Rules: cacheAll(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // one connection: the one whose pragmas the migrator toggles
	g, err := gorm.Open(sqlite.New(sqlite.Config{Conn: db}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	type Owner struct {
		ID   uint
		Name string
	}
	type Pet struct {
		ID      uint
		OwnerID uint
		Owner   Owner `gorm:"constraint:OnDelete:CASCADE"`
		Name    string
	}
	if err := g.AutoMigrate(&Owner{}, &Pet{}); err != nil {
		t.Fatal(err)
	}
	if err := g.Migrator().DropTable(&Pet{}); err != nil { // PRAGMA foreign_keys = OFF … = ON
		t.Fatal(err)
	}
	if err := g.AutoMigrate(&Pet{}); err != nil {
		t.Fatal(err)
	}
	if err := g.Create(&Pet{Name: "rex", Owner: Owner{Name: "ann"}}).Error; err != nil {
		t.Fatal(err)
	}
	hits := stats(t, db).Hits
	for range 3 {
		var p Pet
		if err := g.Where("name = ?", "rex").First(&p).Error; err != nil || p.Name != "rex" {
			t.Fatalf("First: %+v, %v", p, err)
		}
	}
	if st := stats(t, db); st.Hits == hits || st.Bypasses[cachedsql.BypassSessionChanged] != 0 {
		t.Errorf("GORM reads after a migration that toggled foreign keys: hits %d→%d, bypasses %v; want hits and no session bypass",
			hits, st.Hits, st.Bypasses)
	}
}
