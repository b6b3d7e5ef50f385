package cachedsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// oneRule returns a rule set of r alone; r matches every cacheable read unless it says otherwise.
func oneRule(t testing.TB, r cachedsql.Rule) *cachedsql.Rules {
	t.Helper()
	if reflect.DeepEqual(r.Match, cachedsql.Match{}) {
		r.Match.Default = true
	}
	if r.TTL == 0 {
		r.TTL = time.Minute
	}
	rs, err := cachedsql.NewRules(r)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const allUsers = `SELECT id, name FROM users ORDER BY id`

func TestQueryRowCachesWholeResult(t *testing.T) {
	bare, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	want := queryAll(t, bare, ctx, allUsers)
	var id int64
	var name string
	if err := db.QueryRowContext(ctx, allUsers).Scan(&id, &name); err != nil {
		t.Fatal(err)
	}
	if id != 1 || name != "ann" {
		t.Fatalf("QueryRow: got %d %q, want 1 ann", id, name)
	}
	if st := stats(t, db); st.Fills != 1 {
		t.Fatalf("QueryRow of a three-row result was not stored: %+v", st)
	}
	if got := queryAll(t, db, ctx, allUsers); !reflect.DeepEqual(got, want) {
		t.Fatalf("full read after QueryRow: got %v, want %v", got, want)
	}
	if st := stats(t, db); st.Hits != 1 || st.Misses != 1 {
		t.Errorf("hits %d misses %d, want 1 and 1", st.Hits, st.Misses)
	}
}

func TestEarlyCloseStoresWholeResult(t *testing.T) {
	bare, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	want := queryAll(t, bare, ctx, allUsers)
	rows, err := db.QueryContext(ctx, allUsers)
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal("no first row")
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if got := queryAll(t, db, ctx, allUsers); !reflect.DeepEqual(got, want) {
		t.Fatalf("read after an early close: got %v, want %v", got, want)
	}
	if st := stats(t, db); st.Hits != 1 || st.Fills != 1 {
		t.Errorf("hits %d fills %d, want 1 and 1", st.Hits, st.Fills)
	}
}

func TestFillLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rule  cachedsql.Rule
		query string
		args  []any
		rows  int
	}{
		{"over max_rows", cachedsql.Rule{MaxRows: 2}, allUsers, nil, 3},
		{"over max_bytes", cachedsql.Rule{MaxBytes: 24}, `SELECT id, name, avatar FROM users ORDER BY id`, nil, 3},
		{"empty with skip_empty", cachedsql.Rule{SkipEmpty: true}, `SELECT id, name FROM users WHERE id = ?`, []any{99}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rule.Name = "limited"
			bare, db := openSQLite(t, cachedsql.Options{Rules: oneRule(t, tc.rule)})
			ctx := context.Background()
			want := queryAll(t, bare, ctx, tc.query, tc.args...)
			if len(want) != tc.rows {
				t.Fatalf("bare read %d rows, want %d", len(want), tc.rows)
			}
			for i := range 2 {
				if got := queryAll(t, db, ctx, tc.query, tc.args...); !reflect.DeepEqual(got, want) {
					t.Fatalf("read %d: got %v, want %v", i, got, want)
				}
			}
			if tc.rows > 0 {
				// QueryRow drains the rest on Close: still over the limit, still not stored.
				got := make([]any, len(want[0]))
				ptrs := make([]any, len(got))
				for i := range got {
					ptrs[i] = &got[i]
				}
				if err := db.QueryRowContext(ctx, tc.query, tc.args...).Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want[0]) {
					t.Fatalf("QueryRow: got %v, want %v", got, want[0])
				}
			}
			st := stats(t, db)
			reads := st.Misses
			if st.Fills != 0 || st.Hits != 0 || st.FillsSkipped != reads || reads < 2 {
				t.Errorf("fills %d hits %d skipped %d misses %d: want nothing stored, every miss skipped",
					st.Fills, st.Hits, st.FillsSkipped, reads)
			}
		})
	}
}

func TestEmptyResultStoredByDefault(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	ctx := context.Background()
	for range 2 {
		if got := queryAll(t, db, ctx, `SELECT id FROM users WHERE id = ?`, 99); len(got) != 0 {
			t.Fatalf("got %v, want no rows", got)
		}
	}
	if st := stats(t, db); st.Fills != 1 || st.Hits != 1 {
		t.Errorf("fills %d hits %d, want an empty result stored and served", st.Fills, st.Hits)
	}
}

// readUntilError reads query to its end and returns the rows before the error, and the error.
func readUntilError(t *testing.T, db *sql.DB, query string) (n int, err error) {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

func TestQueryErrorMidwayNotStored(t *testing.T) {
	bare, db := openSQLite(t, cachedsql.Options{})
	// abs of the smallest integer overflows: SQLite fails on the third row, after two good ones.
	const q = `SELECT id, CASE WHEN id = 3 THEN abs(-9223372036854775807 - 1) ELSE id END FROM users ORDER BY id`
	wantN, wantErr := readUntilError(t, bare, q)
	if wantErr == nil || wantN != 2 {
		t.Fatalf("bare: %d rows, error %v; want 2 rows then an error", wantN, wantErr)
	}
	for i := range 2 {
		n, err := readUntilError(t, db, q)
		if n != wantN || err == nil || err.Error() != wantErr.Error() {
			t.Errorf("read %d: %d rows, error %v; want %d rows, error %v", i, n, err, wantN, wantErr)
		}
	}
	if st := stats(t, db); st.Fills != 0 || st.Hits != 0 || st.Misses != 2 || st.FillsSkipped != 2 {
		t.Errorf("fills %d hits %d misses %d skipped %d, want 0, 0, 2, 2", st.Fills, st.Hits, st.Misses, st.FillsSkipped)
	}
}

func TestPostgresQueryErrorMidwayNotStored(t *testing.T) {
	bare, db, _ := pgRedis(t, cachedsql.Options{})
	mustExec(t, bare, `CREATE TABLE nums (n int)`)
	mustExec(t, bare, `INSERT INTO nums VALUES (1), (2), (3), (4)`)
	const q = `SELECT 10 / (3 - n) FROM nums`
	_, wantErr := readUntilError(t, bare, q)
	if wantErr == nil {
		t.Fatal("bare read did not fail")
	}
	for i := range 2 {
		if _, err := readUntilError(t, db, q); err == nil || err.Error() != wantErr.Error() {
			t.Errorf("read %d: error %v, want %v", i, err, wantErr)
		}
	}
	if st := stats(t, db); st.Fills != 0 || st.Hits != 0 {
		t.Errorf("a failed result was stored: %+v", st)
	}
}

func TestCorruptEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(valid string) string
	}{
		{"garbage", func(string) string { return "this is not an entry at all" }},
		{"truncated", func(v string) string { return v[:len(v)/2] }},
		{"last byte dropped", func(v string) string { return v[:len(v)-1] }},
		{"magic only", func(v string) string { return v[:2] }},
		{"bit flipped", func(v string) string { b := []byte(v); b[len(b)/2] ^= 0x10; return string(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) {
				bare, db, rdb, ns := redisSQLite(t, cachedsql.Options{})
				watch(db)
				ctx := context.Background()
				want := queryAll(t, bare, ctx, allUsers)
				queryAll(t, db, ctx, allUsers)
				key := oneEntryKey(t, rdb, ns)
				valid, err := rdb.Get(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				bad := tc.corrupt(valid)
				if err := rdb.Set(ctx, key, bad, time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
				if got := queryAll(t, db, ctx, allUsers); !reflect.DeepEqual(got, want) {
					t.Fatalf("read of a corrupt entry: got %v, want %v", got, want)
				}
				st := stats(t, db)
				if st.CorruptEntries != 1 || st.Hits != 0 || st.Misses != 2 {
					t.Errorf("corrupt %d hits %d misses %d, want 1, 0, 2", st.CorruptEntries, st.Hits, st.Misses)
				}
				if now, err := rdb.Get(ctx, key).Result(); err == nil && now == bad {
					t.Errorf("the corrupt entry is still stored")
				}
				if got := queryAll(t, db, ctx, allUsers); !reflect.DeepEqual(got, want) {
					t.Fatalf("read after the refill: got %v, want %v", got, want)
				}
				if st := stats(t, db); st.Hits != 1 {
					t.Errorf("the entry was not refilled: %+v", st)
				}
			})
		})
	}
}

func TestIsolationTwoSQLiteFiles(t *testing.T) {
	bare1, db1, rdb, ns := redisSQLite(t, cachedsql.Options{})
	bare2, db2 := openSQLite(t, cachedsql.Options{Redis: rdb, Namespace: ns})
	mustExec(t, bare2, `UPDATE users SET name = 'other-ann' WHERE id = 1`)
	ctx := context.Background()
	for i := range 3 {
		for _, d := range []struct {
			bare, db *sql.DB
			name     string
		}{{bare1, db1, "first"}, {bare2, db2, "second"}} {
			const q = `SELECT id, name FROM users WHERE id = ?`
			want := queryAll(t, d.bare, ctx, q, 1)
			if got := queryAll(t, d.db, ctx, q, 1); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, %s database: got %v, want %v", i, d.name, got, want)
			}
		}
	}
	if s1, s2 := stats(t, db1), stats(t, db2); s1.Hits != 2 || s2.Hits != 2 {
		t.Errorf("hits %d and %d, want 2 each", s1.Hits, s2.Hits)
	}
}

func TestIsolationTwoPostgresSchemas(t *testing.T) {
	rdb := testenv.Redis(t)
	ns := namespace(t)
	bare1, db1, _ := pgRedis(t, cachedsql.Options{Redis: rdb, Namespace: ns})
	bare2, db2, _ := pgRedis(t, cachedsql.Options{Redis: rdb, Namespace: ns})
	for i, b := range []*sql.DB{bare1, bare2} {
		mustExec(t, b, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
		mustExec(t, b, `INSERT INTO kv VALUES (1, $1)`, []string{"first", "second"}[i])
	}
	for round := range 3 {
		for i, db := range []*sql.DB{db1, db2} {
			var v string
			if err := db.QueryRow(`SELECT v FROM kv WHERE k = $1`, 1).Scan(&v); err != nil {
				t.Fatal(err)
			}
			if want := []string{"first", "second"}[i]; v != want {
				t.Fatalf("round %d, schema %d: got %q, want %q", round, i+1, v, want)
			}
		}
	}
	if s1, s2 := stats(t, db1), stats(t, db2); s1.Hits != 2 || s2.Hits != 2 {
		t.Errorf("hits %d and %d, want 2 each", s1.Hits, s2.Hits)
	}
}

func TestIsolationTwoNamespaces(t *testing.T) {
	bare, dbA, rdb, _ := redisSQLite(t, cachedsql.Options{})
	var path string
	if err := bare.QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	dbB, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Redis: rdb, Namespace: namespace(t), Rules: cacheAll(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer dbB.Close()
	if got := readName(t, dbA, 1); got != "ann" {
		t.Fatalf("namespace A: got %q", got)
	}
	// An outside write: namespace A keeps serving what it cached, namespace B has nothing cached.
	mustExec(t, bare, `UPDATE users SET name = 'zed' WHERE id = 1`)
	if got := readName(t, dbB, 1); got != "zed" {
		t.Errorf("namespace B read %q: it saw namespace A's entry", got)
	}
	if got := readName(t, dbA, 1); got != "ann" {
		t.Errorf("namespace A read %q, want its cached %q", got, "ann")
	}
	if a, b := stats(t, dbA), stats(t, dbB); a.Hits != 1 || b.Hits != 0 || b.Misses != 1 {
		t.Errorf("namespace A hits %d, B hits %d misses %d; want 1, 0, 1", a.Hits, b.Hits, b.Misses)
	}
}

func TestKeysHoldNoArgumentOrSecret(t *testing.T) {
	const secretArg, password = "secret-arg-123", "secret-pass-456"
	rdb := testenv.Redis(t)
	ns := namespace(t)
	dsn := testenv.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password) // trust authentication ignores it
	rules := mustRules(t,
		cachedsql.Rule{Name: "row", Match: cachedsql.Match{SQL: `SELECT k, v FROM secrets WHERE k = $1`}, Key: []string{"k"}},
		cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}})
	db, err := cachedsql.Open("pgx", u.String(), cachedsql.Options{Redis: rdb, Namespace: ns, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, `CREATE TABLE secrets (k text PRIMARY KEY, v text)`)
	mustExec(t, db, `INSERT INTO secrets VALUES ($1, 'v')`, secretArg)
	ctx := context.Background()
	queryAll(t, db, ctx, `SELECT v FROM secrets WHERE k = $1`, secretArg)
	queryAll(t, db, ctx, `SELECT v FROM secrets WHERE k = $1 OR v = $2`, secretArg+"x", secretArg)
	queryAll(t, db, ctx, `SELECT k, v FROM secrets WHERE k = $1`, secretArg) // a row entry and its token
	mustExec(t, db, `UPDATE secrets SET v = 'w' WHERE k = $1`, secretArg)
	keys := scanKeys(t, rdb, ns+":*")
	if len(scanKeys(t, rdb, ns+":q:*")) != 2 || len(scanKeys(t, rdb, ns+":r:*")) != 2 {
		t.Fatalf("keys %v: want two result entries, a row entry and a row token", keys)
	}
	schema := u.Query().Get("search_path")
	for _, k := range keys {
		for _, s := range []string{secretArg, password, schema, "127.0.0.1"} {
			if strings.Contains(k, s) {
				t.Errorf("key %q contains %q", k, s)
			}
		}
	}
}

// checkDDLBumpsEpoch fills reads on db and other (another database in the same namespace), runs ddl
// through db, and checks that every read of db then misses while every read of other still hits.
func checkDDLBumpsEpoch(t *testing.T, db, other *sql.DB, reads []string, ddl string) {
	t.Helper()
	ctx := context.Background()
	for _, d := range []*sql.DB{db, other} {
		for _, q := range reads {
			queryAll(t, d, ctx, q)
			queryAll(t, d, ctx, q)
		}
	}
	mustExec(t, db, ddl)
	before, otherBefore := stats(t, db), stats(t, other)
	for _, q := range reads {
		queryAll(t, db, ctx, q)
		queryAll(t, other, ctx, q)
	}
	after, otherAfter := stats(t, db), stats(t, other)
	if got := after.Misses - before.Misses; got != uint64(len(reads)) || after.Hits != before.Hits {
		t.Errorf("after %q: %d misses and %d hits of %d reads, want every read to miss",
			ddl, got, after.Hits-before.Hits, len(reads))
	}
	if got := otherAfter.Hits - otherBefore.Hits; got != uint64(len(reads)) {
		t.Errorf("after %q on another database: %d of %d reads hit, want all", ddl, got, len(reads))
	}
}

func TestDDLBumpsEpochSQLite(t *testing.T) {
	_, db, rdb, ns := redisSQLite(t, cachedsql.Options{})
	_, other := openSQLite(t, cachedsql.Options{Redis: rdb, Namespace: ns})
	reads := []string{`SELECT id, name FROM users ORDER BY id`, `SELECT id, total FROM orders ORDER BY id`}
	for _, ddl := range []string{
		`CREATE INDEX users_name ON users (name)`,
		`ALTER TABLE orders ADD COLUMN note TEXT`,
		`CREATE TABLE unrelated (x INTEGER)`,
		`DROP INDEX users_name`,
	} {
		t.Run(ddl, func(t *testing.T) { checkDDLBumpsEpoch(t, db, other, reads, ddl) })
	}
}

func TestDDLBumpsEpochPostgres(t *testing.T) {
	rdb := testenv.Redis(t)
	ns := namespace(t)
	bare, db, dsn := pgRedis(t, cachedsql.Options{Redis: rdb, Namespace: ns})
	// Another database (another schema of the same database shares its epoch).
	otherDSN, bareOther := otherDatabase(t, dsn)
	other := openCached(t, otherDSN, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: cacheAll(t)})
	for _, b := range []*sql.DB{bare, bareOther} {
		mustExec(t, b, `CREATE TABLE users (id int PRIMARY KEY, name text)`)
		mustExec(t, b, `CREATE TABLE orders (id int PRIMARY KEY, total int)`)
		mustExec(t, b, `INSERT INTO users VALUES (1, 'ann')`)
		mustExec(t, b, `INSERT INTO orders VALUES (1, 10)`)
	}
	reads := []string{`SELECT id, name FROM users ORDER BY id`, `SELECT id, total FROM orders ORDER BY id`}
	for _, ddl := range []string{
		`ALTER TABLE users ADD COLUMN email text`,
		`CREATE INDEX orders_total ON orders (total)`,
		`COMMENT ON TABLE users IS 'people'`,
	} {
		t.Run(ddl, func(t *testing.T) { checkDDLBumpsEpoch(t, db, other, reads, ddl) })
	}
}

// schemaOf returns the search_path a testenv DSN sets.
func schemaOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("search_path")
}

func TestPostgresSessionChangeBypasses(t *testing.T) {
	bare, db, dsn := pgRedis(t, cachedsql.Options{})
	// Another schema with a table of the same name but other rows: a conn pointed at it must read them.
	otherDSN := testenv.Postgres(t)
	otherBare, err := sql.Open("pgx", otherDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer otherBare.Close()
	for b, v := range map[*sql.DB]string{bare: "home", otherBare: "elsewhere"} {
		mustExec(t, b, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
		mustExec(t, b, `INSERT INTO kv VALUES (1, $1)`, v)
	}
	home, other := schemaOf(t, dsn), schemaOf(t, otherDSN)
	ctx := context.Background()
	read := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) string {
		t.Helper()
		var v string
		if err := q.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = 1`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name, stmt, want string
	}{
		{"SET search_path", `SET search_path TO ` + other, "elsewhere"},
		{"SET SESSION search_path", `SET SESSION search_path = ` + other + `, public`, "elsewhere"},
		{"set_config", `SELECT set_config('search_path', '` + other + `', false)`, "elsewhere"},
		{"SET ROLE", `SET ROLE postgres`, "home"},
		{"SET TimeZone", `SET TimeZone = 'UTC'`, "home"}, // RESET alone now leaves a clean session clean: TestSessionBackToBaseline
		{"SET search_path to the same schema", `SET search_path TO ` + home, "home"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if read(db) != "home" {
				t.Fatal("fill read the wrong schema")
			}
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				conn.Raw(func(any) error { return driver.ErrBadConn }) // never reuse a changed session
				conn.Close()
			}()
			queryAll(t, conn, ctx, tc.stmt)
			before := stats(t, db)
			if got := read(conn); got != tc.want {
				t.Errorf("read on the changed conn: got %q, want %q", got, tc.want)
			}
			mid := stats(t, db)
			if mid.Hits != before.Hits || mid.Bypasses[cachedsql.BypassSessionChanged] != before.Bypasses[cachedsql.BypassSessionChanged]+1 {
				t.Errorf("read on the changed conn: hits %d→%d, session bypasses %d→%d; want a session bypass",
					before.Hits, mid.Hits, before.Bypasses[cachedsql.BypassSessionChanged], mid.Bypasses[cachedsql.BypassSessionChanged])
			}
			if got := read(db); got != "home" {
				t.Errorf("read on another conn: got %q, want home", got)
			}
			if st := stats(t, db); st.Hits != mid.Hits+1 {
				t.Errorf("a read on another conn was not a hit: hits %d→%d", mid.Hits, st.Hits)
			}
		})
	}
}

// TestIsolationSQLiteSameText opens two different SQLite databases whose data source names are the same
// text, in one namespace of one Redis: each must read its own rows.
func TestIsolationSQLiteSameText(t *testing.T) {
	for _, tc := range []struct {
		name, dsn string
		chdir     bool // open each from a folder of its own
	}{
		{"relative path", "app.db", true},
		{"memory", ":memory:", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := testenv.Redis(t)
			ns := namespace(t)
			var dbs []*sql.DB
			for i, name := range []string{"first", "second"} {
				if tc.chdir {
					t.Chdir(t.TempDir())
				}
				db, err := cachedsql.Open("sqlite3", tc.dsn, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: cacheAll(t)})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				db.SetMaxOpenConns(1) // one connection: one database even for :memory:
				mustExec(t, db, `CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`)
				mustExec(t, db, `INSERT INTO users VALUES (1, ?)`, name)
				if got := readName(t, db, 1); got != name {
					t.Fatalf("database %d read %q, want %q", i+1, got, name)
				}
				dbs = append(dbs, db)
			}
			for i, name := range []string{"first", "second"} {
				if got := readName(t, dbs[i], 1); got != name {
					t.Errorf("database %d read %q, want %q: it was served another database's rows", i+1, got, name)
				}
			}
		})
	}
}

// TestTempTableShadowing: a temporary table hides the permanent table of the same name, for its own
// session only. Rows read through it must never be served to other connections.
func TestTempTableShadowing(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		_, db := openSQLite(t, cachedsql.Options{})
		checkTempTableShadowing(t, db, `CREATE TEMP TABLE users (id INTEGER PRIMARY KEY, name TEXT)`,
			`INSERT INTO users VALUES (1, 'temp')`, `SELECT name FROM users WHERE id = 1`)
	})
	t.Run("postgres", func(t *testing.T) {
		bare, db, _ := pgRedis(t, cachedsql.Options{})
		mustExec(t, bare, `CREATE TABLE users (id int PRIMARY KEY, name text)`)
		mustExec(t, bare, `INSERT INTO users VALUES (1, 'ann')`)
		checkTempTableShadowing(t, db, `CREATE TEMP TABLE users (id int PRIMARY KEY, name text)`,
			`INSERT INTO users VALUES (1, 'temp')`, `SELECT name FROM users WHERE id = 1`)
	})
}

func checkTempTableShadowing(t *testing.T, db *sql.DB, create, insert, read string) {
	t.Helper()
	ctx := context.Background()
	name := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) string {
		t.Helper()
		var s string
		if err := q.QueryRowContext(ctx, read).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := name(db); got != "ann" {
		t.Fatalf("fill: %q", got)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExec(t, conn, create)
	mustExec(t, conn, insert)
	if got := name(conn); got != "temp" {
		t.Errorf("the conn with the temporary table read %q, want temp", got)
	}
	if got := name(db); got != "ann" {
		t.Errorf("another conn read %q, want ann: it was served the rows of another session's temporary table", got)
	}
}

func TestPostgresQueryRowCachesWholeResult(t *testing.T) {
	bare, db, _ := pgRedis(t, cachedsql.Options{})
	mustExec(t, bare, `CREATE TABLE users (id int8 PRIMARY KEY, name text)`)
	mustExec(t, bare, `INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 50) g`)
	ctx := context.Background()
	want := queryAll(t, bare, ctx, allUsers)
	var id int64
	var name string
	if err := db.QueryRowContext(ctx, allUsers).Scan(&id, &name); err != nil || id != 1 {
		t.Fatalf("QueryRow: %d %q %v", id, name, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT id, name FROM users WHERE id > $1 ORDER BY id`, 10)
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	rows.Close()
	if got := queryAll(t, db, ctx, allUsers); !reflect.DeepEqual(got, want) {
		t.Fatalf("full read after QueryRow: %d rows, want %d", len(got), len(want))
	}
	if got := queryAll(t, db, ctx, `SELECT id, name FROM users WHERE id > $1 ORDER BY id`, 10); len(got) != 40 {
		t.Fatalf("full read after an early close: %d rows, want 40", len(got))
	}
	if st := stats(t, db); st.Hits != 2 || st.Fills != 2 {
		t.Errorf("hits %d fills %d, want 2 and 2", st.Hits, st.Fills)
	}
}
