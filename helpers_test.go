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
)

// The helpers the root package's tests share: opening SQLite and PostgreSQL through the wrapper, with
// the in-process store or Redis, reading and counting, rules, and running count-based tests on a loaded
// host. Helpers used by one test file stay in it.

// cacheAll is a rule set that caches every cacheable read for a minute.
func cacheAll(t testing.TB) *cachedsql.Rules {
	t.Helper()
	rs, err := cachedsql.NewRules(cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// openSQLite opens one SQLite file twice: bare, and through the wrapper with opts (rules default to cacheAll).
func openSQLite(t testing.TB, opts cachedsql.Options) (bare, db *sql.DB) {
	t.Helper()
	_, bare, db = openSQLitePath(t, opts)
	return bare, db
}

// openSQLitePath is openSQLite that also returns the file's path.
func openSQLitePath(t testing.TB, opts cachedsql.Options) (path string, bare, db *sql.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "test.db")
	bare, db = openSQLiteDSN(t, path, opts)
	mustExec(t, bare, `CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, score REAL, born TIMESTAMP, avatar BLOB)`)
	mustExec(t, bare, `INSERT INTO users VALUES (1, 'ann', 1.5, '2001-02-03 04:05:06', x'0102'), (2, 'bob', NULL, NULL, x''), (3, 'cy', -0.0, '1999-12-31 23:59:59', NULL)`)
	mustExec(t, bare, `CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total INTEGER)`)
	mustExec(t, bare, `INSERT INTO orders VALUES (1, 1, 10), (2, 1, 20), (3, 2, 5)`)
	return path, bare, db
}

// openSQLiteDSN opens the SQLite database dsn bare and through the wrapper (with opts, and every read
// cached when opts has no rules); both are closed when t ends.
func openSQLiteDSN(t testing.TB, dsn string, opts cachedsql.Options) (bare, db *sql.DB) {
	t.Helper()
	if opts.Rules == nil {
		opts.Rules = cacheAll(t)
	}
	bare, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	db, err = cachedsql.Open("sqlite3", dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return bare, db
}

func mustExec(t testing.TB, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) sql.Result {
	t.Helper()
	res, err := db.ExecContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

func stats(t testing.TB, db *sql.DB) cachedsql.Stats {
	t.Helper()
	st, ok := cachedsql.StatsOf(db)
	if !ok {
		t.Fatal("StatsOf: not a caching DB")
	}
	return st
}

// queryAll reads every row of a query into []any rows.
func queryAll(t testing.TB, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, ctx context.Context, query string, args ...any) [][]any {
	t.Helper()
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return collectRows(t, rows)
}

// collectRows reads every row into []any values and closes rows.
func collectRows(t testing.TB, rows *sql.Rows) [][]any {
	t.Helper()
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// namespace returns a Redis namespace of the test's own, removed when it ends.
func namespace(t testing.TB) string {
	t.Helper()
	p := testenv.Prefix(t)
	return p[:len(p)-1]
}

// sqliteFile returns a path for a new SQLite database in the test's temporary folder.
func sqliteFile(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(t.TempDir(), name)
}

func mustRules(t testing.TB, rules ...cachedsql.Rule) *cachedsql.Rules {
	t.Helper()
	rs, err := cachedsql.NewRules(rules...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// scanKeys returns the keys of rdb matching pattern.
func scanKeys(t testing.TB, rdb *redis.Client, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// oneEntryKey returns the only cached result stored under namespace ns.
func oneEntryKey(t testing.TB, rdb *redis.Client, ns string) string {
	t.Helper()
	keys := scanKeys(t, rdb, ns+":q:*")
	if len(keys) != 1 {
		t.Fatalf("entries under %s: %v, want exactly one", ns, keys)
	}
	return keys[0]
}

// redisSQLite is openSQLite on the real Redis, under a namespace of the test's own.
func redisSQLite(t testing.TB, opts cachedsql.Options) (bare, db *sql.DB, rdb *redis.Client, ns string) {
	t.Helper()
	rdb = testenv.Redis(t)
	if opts.Redis == nil {
		opts.Redis = rdb
	}
	if opts.Namespace == "" {
		opts.Namespace = namespace(t)
	}
	bare, db = openSQLite(t, opts)
	return bare, db, rdb, opts.Namespace
}

// pgRedis opens a fresh PostgreSQL schema bare and through the wrapper on a real Redis under a
// prefix of the test's own.
func pgRedis(t testing.TB, opts cachedsql.Options) (bare, db *sql.DB, dsn string) {
	t.Helper()
	dsn = testenv.Postgres(t)
	if opts.Redis == nil {
		opts.Redis = testenv.Redis(t)
	}
	if opts.Namespace == "" {
		opts.Namespace = strings.TrimSuffix(testenv.Prefix(t), ":")
	}
	if opts.Rules == nil {
		opts.Rules = cacheAll(t)
	}
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	db, err = cachedsql.Open("pgx", dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return bare, db, dsn
}

// userName reads one user's name through userByID; "" when there is no such row.
func userName(t testing.TB, db *sql.DB, id int) string {
	t.Helper()
	var got int
	var name string
	err := db.QueryRowContext(context.Background(), userByID, id).Scan(&got, &name)
	if err == sql.ErrNoRows {
		return ""
	}
	if err != nil {
		t.Fatalf("read user %d: %v", id, err)
	}
	return name
}

// hitsOf runs f and returns the hits and misses it made.
func hitsOf(t testing.TB, db *sql.DB, f func()) (hits, misses uint64) {
	t.Helper()
	before := stats(t, db)
	f()
	after := stats(t, db)
	return after.Hits - before.Hits, after.Misses - before.Misses
}

// rowRules caches userByID as a row rule (write-through if asked) and every other read whole.
func rowRules(t testing.TB, writeThrough bool) *cachedsql.Rules {
	t.Helper()
	return mustRules(t,
		cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: userByID}, Key: []string{"id"}, TTL: time.Minute, WriteThrough: writeThrough},
		cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: time.Minute},
	)
}

// storeVariants runs f with the in-process store and with Redis.
func storeVariants(t *testing.T, f func(t *testing.T, opts cachedsql.Options)) {
	t.Run("memory", func(t *testing.T) { f(t, cachedsql.Options{}) })
	t.Run("redis", func(t *testing.T) {
		f(t, cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t)})
	})
}

// eventually polls cond until it holds or a generous deadline passes (no fixed sleeps: the deadline only
// bounds a broken test).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// onLoadedHost runs body, a test that counts hits and misses, under testenv.Attempts: an attempt that
// fails while a handle it watched saw a store error or a read with the catalog not loaded is run
// again. Both are the defaults' time bounds (StoreTimeout 50ms, the catalog's 1s) deciding on a
// loaded host: the read was served correctly from the database, but not counted as the test expects.
func onLoadedHost(t *testing.T, body func(t *testenv.Attempt, watch func(db *sql.DB))) {
	t.Helper()
	testenv.Attempts(t, 3, func(a *testenv.Attempt) {
		var dbs []*sql.DB
		a.Inconclusive(func() string { return slowHost(dbs) })
		body(a, func(db *sql.DB) { dbs = append(dbs, db) })
	})
}

// slowHost says what the handles saw that a loaded host explains, or "".
func slowHost(dbs []*sql.DB) string {
	var storeErrors, catalog uint64
	for _, db := range dbs {
		if st, ok := cachedsql.StatsOf(db); ok {
			storeErrors += st.StoreErrors
			catalog += st.Bypasses[cachedsql.BypassCatalogUnknown]
		}
	}
	var why []string
	if storeErrors > 0 {
		why = append(why, fmt.Sprintf("%d store errors", storeErrors))
	}
	if catalog > 0 {
		why = append(why, fmt.Sprintf("%d reads with the catalog not loaded", catalog))
	}
	return strings.Join(why, ", ")
}
