package cachedsql_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// The GORM and sqlx tests run one scenario twice per backend, on a bare *sql.DB and on a caching one
// whose rule caches every read, and compare every result. Each run gets an empty database of its own
// (a PostgreSQL schema, or a SQLite file), so both start from the same state.

// ormBackend opens an empty database, bare or caching, and says which GORM dialector and sqlx driver
// name go with it.
type ormBackend struct {
	name string
	// sqlxName is the driver name sqlx picks its placeholder style from.
	sqlxName string
	open     func(t *testing.T, cached bool) *sql.DB
	dialect  func(db *sql.DB) gorm.Dialector
}

func ormBackends() []ormBackend {
	return []ormBackend{
		{
			name: "postgres+redis", sqlxName: "pgx", open: openPGScenario("simple_protocol"),
			dialect: func(db *sql.DB) gorm.Dialector { return postgres.New(postgres.Config{Conn: db}) },
		},
		{
			name: "postgres+redis/cache_statement", sqlxName: "pgx", open: openPGScenario(""),
			dialect: func(db *sql.DB) gorm.Dialector { return postgres.New(postgres.Config{Conn: db}) },
		},
		{
			name: "sqlite+memory", sqlxName: "sqlite3", open: openSQLiteScenario,
			dialect: func(db *sql.DB) gorm.Dialector { return sqlite.New(sqlite.Config{Conn: db}) },
		},
	}
}

// openPGScenario returns a function that opens a schema of its own, through the wrapper on a real
// Redis under the test's own prefix when cached is set. mode is pgx's default_query_exec_mode, "" for
// pgx's default (prepared statements cached per connection: a scenario migrates only before it reads,
// so it cannot trip over them, see TestGormPgxPlanCacheAfterMigrate).
func openPGScenario(mode string) func(t *testing.T, cached bool) *sql.DB {
	return func(t *testing.T, cached bool) *sql.DB {
		t.Helper()
		return openPG(t, mode, cached)
	}
}

func openPG(t *testing.T, mode string, cached bool) *sql.DB {
	t.Helper()
	dsn := testenv.Postgres(t)
	if mode != "" {
		dsn = withParam(dsn, "default_query_exec_mode", mode)
	}
	var (
		db  *sql.DB
		err error
	)
	if cached {
		db, err = cachedsql.Open("pgx", dsn, cachedsql.Options{
			Redis:     testenv.Redis(t),
			Namespace: strings.TrimSuffix(testenv.Prefix(t), ":"),
			Rules:     cacheAll(t),
		})
	} else {
		db, err = sql.Open("pgx", dsn)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openSQLiteScenario opens a new SQLite file, through the wrapper on the in-process store when cached
// is set.
func openSQLiteScenario(t *testing.T, cached bool) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.db")
	var (
		db  *sql.DB
		err error
	)
	if cached {
		db, err = cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: cacheAll(t)})
	} else {
		db, err = sql.Open("sqlite3", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// withParam adds a query parameter to a URL-style PostgreSQL DSN.
func withParam(dsn, key, value string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + key + "=" + value
}

// transcript records every result of a scenario, in order, as text to compare.
type transcript struct {
	t     *testing.T
	lines []string
}

// record adds one step: its result as JSON, and its error text if any.
func (tr *transcript) record(step string, v any, err error) {
	tr.t.Helper()
	b, jerr := json.Marshal(v)
	if jerr != nil {
		tr.t.Fatalf("%s: encode result: %v", step, jerr)
	}
	line := step + " => " + string(b)
	if err != nil {
		line += " error: " + err.Error()
	}
	tr.lines = append(tr.lines, line)
}

// compareTranscripts fails t at every step where the cached run differs from the bare one.
func compareTranscripts(t *testing.T, bare, cached []string) {
	t.Helper()
	if len(bare) != len(cached) {
		t.Errorf("cached run recorded %d steps, bare run %d", len(cached), len(bare))
	}
	for i := range min(len(bare), len(cached)) {
		if bare[i] != cached[i] {
			t.Errorf("step %d:\n got (cached) %s\nwant (bare)   %s", i, cached[i], bare[i])
		}
	}
}

// checkCachedRun checks that a cached scenario run was really served from the cache in part.
func checkCachedRun(t *testing.T, db *sql.DB) {
	t.Helper()
	st := stats(t, db)
	if st.Hits == 0 || st.Fills == 0 {
		t.Errorf("cached run: %d hits, %d fills; want some of each (stats %+v)", st.Hits, st.Fills, st)
	}
	if st.Invalidations == 0 {
		t.Errorf("cached run: no invalidations after writes (stats %+v)", st)
	}
	t.Logf("cached run: %d hits, %d misses, %d fills, bypasses %v", st.Hits, st.Misses, st.Fills, st.Bypasses)
}

type gormUser struct {
	ID    uint   `gorm:"primaryKey"`
	Name  string `gorm:"size:64;not null"`
	Email *string
	Age   int
	Posts []gormPost `gorm:"foreignKey:UserID"`
}

func (gormUser) TableName() string { return "users" }

type gormPost struct {
	ID     uint `gorm:"primaryKey"`
	UserID uint `gorm:"index"`
	Title  string
	Likes  int
}

func (gormPost) TableName() string { return "posts" }

// userPostCount is the row shape of the scenario's raw query.
type userPostCount struct {
	Name  string
	Posts int
	Likes int
}

var errRollback = errors.New("roll back")

func TestGormSameResults(t *testing.T) {
	for _, b := range ormBackends() {
		for _, prepare := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/PrepareStmt=%v", b.name, prepare), func(t *testing.T) {
				t.Parallel()
				cfg := &gorm.Config{Logger: logger.Discard, PrepareStmt: prepare}
				bareDB, cachedDB := b.open(t, false), b.open(t, true)
				bare := runGormScenario(t, openGormConfig(t, b.dialect(bareDB), cfg))
				cached := runGormScenario(t, openGormConfig(t, b.dialect(cachedDB), cfg))
				compareTranscripts(t, bare, cached)
				checkCachedRun(t, cachedDB)
			})
		}
	}
}

func openGorm(t *testing.T, d gorm.Dialector) *gorm.DB {
	t.Helper()
	return openGormConfig(t, d, &gorm.Config{Logger: logger.Discard})
}

func openGormConfig(t *testing.T, d gorm.Dialector, cfg *gorm.Config) *gorm.DB {
	t.Helper()
	g, err := gorm.Open(d, cfg)
	if err != nil {
		t.Fatalf("gorm.Open: %v", err)
	}
	return g
}

// runGormScenario runs CRUD, preloads, transactions and raw statements, reading each result twice
// (the second read is the one a cache serves), and checks that every read after a write sees it.
func runGormScenario(t *testing.T, g *gorm.DB) []string {
	t.Helper()
	tr := &transcript{t: t}
	if err := g.AutoMigrate(&gormUser{}, &gormPost{}); err != nil {
		t.Fatalf("AutoMigrate: %v", err)
	}
	email := "ann@example.com"
	users := []gormUser{
		{Name: "ann", Email: &email, Age: 30, Posts: []gormPost{{Title: "a1", Likes: 1}, {Title: "a2", Likes: 2}}},
		{Name: "bob", Age: 20, Posts: []gormPost{{Title: "b1"}}},
		{Name: "cy", Age: 41},
	}
	err := g.Create(&users).Error
	tr.record("create", users, err)
	ann, bob, cy := users[0].ID, users[1].ID, users[2].ID
	gormReads(tr, g, ann)

	err = g.Model(&gormUser{ID: ann}).Updates(map[string]any{"name": "ann2", "age": 31}).Error
	tr.record("updates", nil, err)
	wantUser(t, g, ann, "ann2", 31)
	gormReads(tr, g, ann)

	res := g.Where("title = ?", "a2").Delete(&gormPost{})
	tr.record("delete post", res.RowsAffected, res.Error)
	wantCount(t, g.Model(&gormPost{}).Where("user_id = ?", ann), 1)

	gormTransactions(t, tr, g, bob)

	res = g.Exec(`UPDATE posts SET likes = likes + ? WHERE user_id = ?`, 10, ann)
	tr.record("exec", res.RowsAffected, res.Error)
	gormReads(tr, g, ann)

	res = g.Delete(&gormUser{}, cy)
	tr.record("delete user", res.RowsAffected, res.Error)
	wantCount(t, g.Model(&gormUser{}), 2)
	gormReads(tr, g, ann)
	return tr.lines
}

// gormReads runs every kind of read twice.
func gormReads(tr *transcript, g *gorm.DB, id uint) {
	tr.t.Helper()
	for i := range 2 {
		var u gormUser
		err := g.First(&u, id).Error
		tr.record(fmt.Sprint("first ", i), u, err)

		var all []gormUser
		err = g.Order("id").Find(&all).Error
		tr.record(fmt.Sprint("find ", i), all, err)

		var older []gormUser
		err = g.Where("age > ?", 25).Order("id").Find(&older).Error
		tr.record(fmt.Sprint("where ", i), older, err)

		var withPosts []gormUser
		err = g.Preload("Posts", func(db *gorm.DB) *gorm.DB { return db.Order("id") }).Order("id").Find(&withPosts).Error
		tr.record(fmt.Sprint("preload ", i), withPosts, err)

		var n int64
		err = g.Model(&gormPost{}).Count(&n).Error
		tr.record(fmt.Sprint("count ", i), n, err)

		var counts []userPostCount
		err = g.Raw(`SELECT u.name, count(p.id) AS posts, coalesce(sum(p.likes), 0) AS likes
			FROM users u LEFT JOIN posts p ON p.user_id = u.id
			WHERE u.age >= ? GROUP BY u.id, u.name ORDER BY u.id`, 0).Scan(&counts).Error
		tr.record(fmt.Sprint("raw ", i), counts, err)
	}
}

// gormTransactions runs a committed transaction that writes then reads, and a rolled-back one.
func gormTransactions(t *testing.T, tr *transcript, g *gorm.DB, bob uint) {
	t.Helper()
	var inside []gormPost
	err := g.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&gormPost{UserID: bob, Title: "b-tx", Likes: 5}).Error; err != nil {
			return err
		}
		return tx.Where("user_id = ?", bob).Order("id").Find(&inside).Error
	})
	tr.record("tx commit", inside, err)
	if len(inside) != 2 {
		t.Errorf("read inside the transaction: got %d posts of bob, want 2", len(inside))
	}
	wantCount(t, g.Model(&gormPost{}).Where("user_id = ?", bob), 2)

	err = g.Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&gormUser{ID: bob}).Update("age", 99).Error; err != nil {
			return err
		}
		wantUser(t, tx, bob, "bob", 99)
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Errorf("rolled-back transaction: got error %v, want %v", err, errRollback)
	}
	wantUser(t, g, bob, "bob", 20)
}

// wantUser reads a user (twice, so that the second read may be a hit) and checks its name and age.
func wantUser(t *testing.T, g *gorm.DB, id uint, name string, age int) {
	t.Helper()
	for range 2 {
		var u gormUser
		if err := g.First(&u, id).Error; err != nil {
			t.Fatalf("First(%d): %v", id, err)
		}
		if u.Name != name || u.Age != age {
			t.Errorf("user %d: got %s aged %d, want %s aged %d", id, u.Name, u.Age, name, age)
		}
	}
}

// wantCount counts the rows of q (twice) and checks the count.
func wantCount(t *testing.T, q *gorm.DB, want int64) {
	t.Helper()
	for range 2 {
		var n int64
		if err := q.Session(&gorm.Session{}).Count(&n).Error; err != nil {
			t.Fatalf("Count: %v", err)
		}
		if n != want {
			t.Errorf("count: got %d, want %d", n, want)
		}
	}
}

// gormItemV1 and gormItemV2 are one table before and after a migration that adds a column.
type gormItemV1 struct {
	ID   uint `gorm:"primaryKey"`
	Name string
}

func (gormItemV1) TableName() string { return "items" }

type gormItemV2 struct {
	ID    uint `gorm:"primaryKey"`
	Name  string
	Price int `gorm:"default:7"`
}

func (gormItemV2) TableName() string { return "items" }

// TestGormPgxPlanCacheAfterMigrate shows the pgx statement-cache problem on the Conn path. pgx's
// default query mode prepares and caches every statement that has arguments, per connection; when a
// migration changes a table that a cached "SELECT *" reads, PostgreSQL refuses the old plan with
// "cached plan must not change result type" (SQLSTATE 0A000). The wrapper passes that error through
// unchanged, as the bare driver gives it (pgx then forgets the statement, so the next call succeeds).
// The fix is to pick a mode without a server-side statement cache in the DSN,
// default_query_exec_mode=simple_protocol (or exec): GORM's PreferSimpleProtocol does nothing for a
// *sql.DB passed as Conn, nor for a DriverName. The cache itself is never stale across the migration:
// DDL replaces the database's epoch.
func TestGormPgxPlanCacheAfterMigrate(t *testing.T) {
	tests := []struct {
		name    string
		mode    string // default_query_exec_mode, "" for pgx's default
		wantErr bool
	}{
		{name: "default mode fails once", mode: "", wantErr: true},
		{name: "simple protocol", mode: "simple_protocol"},
		{name: "exec", mode: "exec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, cached := range []bool{false, true} {
				err := migrateBetweenReads(t, tt.mode, cached)
				var pgErr *pgconn.PgError
				switch {
				case tt.wantErr && !(errors.As(err, &pgErr) && pgErr.Code == "0A000"):
					t.Errorf("cached=%v: got error %v, want SQLSTATE 0A000 (cached plan must not change result type)", cached, err)
				case !tt.wantErr && err != nil:
					t.Errorf("cached=%v: got error %v, want none", cached, err)
				}
			}
		})
	}
}

// migrateBetweenReads reads items on one connection, adds a column with AutoMigrate, and reads
// again. It returns the first error of the read after the migration, after checking that the read
// after that sees the new column.
func migrateBetweenReads(t *testing.T, mode string, cached bool) error {
	t.Helper()
	db := openPG(t, mode, cached)
	db.SetMaxOpenConns(1) // one connection, so the second read meets the first one's prepared statement
	g := openGorm(t, postgres.New(postgres.Config{Conn: db}))
	if err := g.AutoMigrate(&gormItemV1{}); err != nil {
		t.Fatal(err)
	}
	if err := g.Create(&gormItemV1{Name: "pen"}).Error; err != nil {
		t.Fatal(err)
	}
	var v1 []gormItemV1
	if err := g.Where("name = ?", "pen").Find(&v1).Error; err != nil {
		t.Fatal(err)
	}
	if err := g.AutoMigrate(&gormItemV2{}); err != nil {
		t.Fatal(err)
	}
	var v2 []map[string]any
	first := g.Model(&gormItemV2{}).Where("name = ?", "pen").Find(&v2).Error
	for range 2 {
		v2 = nil
		if err := g.Model(&gormItemV2{}).Where("name = ?", "pen").Find(&v2).Error; err != nil {
			t.Fatalf("read after the migration, retried: %v", err)
		}
		if len(v2) != 1 || fmt.Sprint(v2[0]["price"]) != "7" {
			t.Errorf("read after the migration: got %v, want one row with price 7", v2)
		}
	}
	return first
}

// TestGormSQLiteReadOnlyPragmaKeepsCaching: a PRAGMA that only reads a setting ("PRAGMA foreign_keys", with no
// value) changes nothing in the session, yet it is classified as a session change, which stops caching
// on its connection for good. GORM's SQLite migrator runs it before every DropTable and AlterColumn
// (RunWithoutForeignKey), so after any such migration the pooled connection never hits again.
func TestGormSQLiteReadOnlyPragmaKeepsCaching(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, db *sql.DB, g *gorm.DB)
	}{
		{"control: no pragma", func(*testing.T, *sql.DB, *gorm.DB) {}},
		{"pragma query", func(t *testing.T, db *sql.DB, g *gorm.DB) {
			var on int
			if err := db.QueryRow(`PRAGMA foreign_keys`).Scan(&on); err != nil {
				t.Fatal(err)
			}
		}},
		{"gorm DropTable", func(t *testing.T, db *sql.DB, g *gorm.DB) {
			if err := g.Migrator().DropTable(&gormItemV1{}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openSQLiteScenario(t, true)
			db.SetMaxOpenConns(1) // one connection: the one the PRAGMA ran on
			g := openGorm(t, sqlite.New(sqlite.Config{Conn: db}))
			if err := g.AutoMigrate(&gormUser{}, &gormItemV1{}); err != nil {
				t.Fatal(err)
			}
			tt.run(t, db, g)
			before := stats(t, db)
			for range 2 {
				var n int64
				if err := g.Model(&gormUser{}).Count(&n).Error; err != nil {
					t.Fatal(err)
				}
			}
			after := stats(t, db)
			if got := after.Hits - before.Hits; got != 1 {
				t.Errorf("hits of two identical reads: got %d, want 1 (bypasses %v)", got, after.Bypasses)
			}
		})
	}
}
