package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pgTypes is one column per PostgreSQL type a user meets, with a value and NULL.
var pgTypes = []struct{ typ, value string }{
	{"int2", "'-32768'"}, {"int4", "2147483647"}, {"int8", "'-9223372036854775808'"},
	{"numeric(12,3)", "123456789.125"}, {"numeric", "'NaN'"}, {"float4", "3.25"}, {"float8", "'-Infinity'"},
	{"float8", "'-0'"}, {"bool", "true"}, {"text", "'héllo\nworld'"}, {"varchar(20)", "'abc'"},
	{"char(5)", "'ab'"}, {"bytea", `'\x00ff10'`}, {"bytea", `''`}, {"date", "'2024-02-29'"},
	{"time", "'13:14:15.123456'"}, {"timetz", "'13:14:15+02'"}, {"timestamp", "'2024-01-02 03:04:05.678901'"},
	{"timestamptz", "'2024-01-02 03:04:05.678901+05:30'"}, {"interval", "'1 year 2 mons 3 days 04:05:06'"},
	{"uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}, {"json", `'{"b": 1, "a": [1, 2]}'`},
	{"jsonb", `'{"b": 1, "a": [1, 2]}'`}, {"int4[]", "'{1,2,NULL}'"}, {"text[]", `'{"a b",c}'`},
	{"inet", "'192.168.0.1/24'"}, {"cidr", "'10.0.0.0/8'"}, {"oid", "42"}, {"money", "'12.34'"},
	{"point", "'(1,2)'"}, {"bit(4)", "B'1010'"}, {"xml", "'<a>1</a>'"},
}

func createTypesTable(t testing.TB, db *sql.DB) {
	t.Helper()
	var cols, vals []string
	for i, c := range pgTypes {
		cols = append(cols, fmt.Sprintf("c%d %s", i, c.typ))
		vals = append(vals, c.value+"::"+c.typ)
	}
	mustExec(t, db, "CREATE TABLE types (id int PRIMARY KEY, "+strings.Join(cols, ", ")+")")
	mustExec(t, db, "INSERT INTO types VALUES (1, "+strings.Join(vals, ", ")+")")
	mustExec(t, db, "INSERT INTO types (id) VALUES (2)")
}

// scanResult is everything database/sql gives an application for one query.
type scanResult struct {
	Columns []string
	Types   []colType
	Any     [][]any
	Strings [][]sql.NullString
}

type colType struct {
	Name, DBType     string
	Scan             reflect.Type
	Nullable, NullOK bool
	Length           int64
	LengthOK         bool
	Prec, Scale      int64
	DecimalOK        bool
}

func scanAll(t testing.TB, db *sql.DB, query string, args ...any) scanResult {
	t.Helper()
	ctx := context.Background()
	var res scanResult
	// Into any.
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatal(err)
	}
	res.Columns, _ = rows.Columns()
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cts {
		c := colType{Name: ct.Name(), DBType: ct.DatabaseTypeName(), Scan: ct.ScanType()}
		c.Nullable, c.NullOK = ct.Nullable()
		c.Length, c.LengthOK = ct.Length()
		c.Prec, c.Scale, c.DecimalOK = ct.DecimalSize()
		res.Types = append(res.Types, c)
	}
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		res.Any = append(res.Any, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	// Into typed targets: NullString takes every type's text form.
	rows, err = db.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]sql.NullString, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		res.Strings = append(res.Strings, vals)
	}
	return res
}

func sameResult(t *testing.T, what string, got, want scanResult) {
	t.Helper()
	if !reflect.DeepEqual(got.Columns, want.Columns) {
		t.Errorf("%s: columns %v, want %v", what, got.Columns, want.Columns)
	}
	for i := range want.Types {
		if i < len(got.Types) && got.Types[i] != want.Types[i] {
			t.Errorf("%s: column %d type %+v, want %+v", what, i, got.Types[i], want.Types[i])
		}
	}
	if len(got.Any) != len(want.Any) {
		t.Fatalf("%s: %d rows, want %d", what, len(got.Any), len(want.Any))
	}
	for r := range want.Any {
		for c := range want.Any[r] {
			g, w := got.Any[r][c], want.Any[r][c]
			if !sameValue(g, w) {
				t.Errorf("%s: row %d column %d (%s): got %#v, want %#v", what, r, c, want.Columns[c], g, w)
			}
		}
	}
	if !reflect.DeepEqual(got.Strings, want.Strings) {
		t.Errorf("%s: scanned as strings: got %v, want %v", what, got.Strings, want.Strings)
	}
}

// sameValue compares scanned values exactly: the type, the value, and a time's location.
func sameValue(g, w any) bool {
	if gt, ok := g.(time.Time); ok {
		wt, ok := w.(time.Time)
		if !ok || !gt.Equal(wt) {
			return false
		}
		gn, go_ := gt.Zone()
		wn, wo := wt.Zone()
		return gn == wn && go_ == wo && gt.Location().String() == wt.Location().String()
	}
	if gf, ok := g.(float64); ok {
		wf, ok := w.(float64)
		return ok && (gf == wf && (gf != 0 || fmt.Sprint(1/gf) == fmt.Sprint(1/wf)) || gf != gf && wf != wf)
	}
	return reflect.DeepEqual(g, w)
}

func TestPostgresTypeFidelity(t *testing.T) {
	bare, db, _ := pgRedis(t, cachedsql.Options{})
	createTypesTable(t, bare)
	const q = `SELECT * FROM types ORDER BY id`
	want := scanAll(t, bare, q)
	miss := scanAll(t, db, q) // the first query of scanAll misses; its second already hits
	hit := scanAll(t, db, q)
	sameResult(t, "miss", miss, want)
	sameResult(t, "hit", hit, want)
	if st := stats(t, db); st.Hits != 3 || st.Misses != 1 {
		t.Errorf("hits %d misses %d, want 3 and 1 (some value was not cached: %+v)", st.Hits, st.Misses, st)
	}
}

func TestPostgresErrorsPassThrough(t *testing.T) {
	_, db, _ := pgRedis(t, cachedsql.Options{})
	_, err := db.QueryContext(context.Background(), `SELECT * FROM no_such_table`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Fatalf("error %v (%T), want a *pgconn.PgError 42P01", err, err)
	}
}

func TestPostgresEntryPoints(t *testing.T) {
	dsn := testenv.Postgres(t)
	rdb := testenv.Redis(t)
	ns := strings.TrimSuffix(testenv.Prefix(t), ":")
	opts := cachedsql.Options{Redis: rdb, Namespace: ns, Rules: cacheAll(t)}
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	mustExec(t, bare, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	mustExec(t, bare, `INSERT INTO kv VALUES (1, 'one')`)

	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := "pgx+cachedsqltest-" + ns
	cachedsql.Register(name, stdlib.GetDefaultDriver(), opts)
	registered, err := sql.Open(name, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer registered.Close()
	c, err := cachedsql.WrapConnector(stdlib.GetConnector(*cfg), opts) // the identity comes from the server
	if err != nil {
		t.Fatal(err)
	}
	viaConnector := sql.OpenDB(c)
	defer viaConnector.Close()
	opened, err := cachedsql.Open("pgx", dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer opened.Close()

	dbs := map[string]*sql.DB{"Open": opened, "Register": registered, "WrapConnector": viaConnector}
	read := func(name string, db *sql.DB) string {
		var v string
		if err := db.QueryRow(`SELECT v FROM kv WHERE k = $1`, 1).Scan(&v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	for name, db := range dbs {
		read(name, db)
		read(name, db)
		if st := stats(t, db); st.Hits < 1 {
			t.Errorf("%s: no hit: %+v", name, st)
		}
	}
	// The three share one store and one identity: a write through any one is seen by all.
	for wname, w := range dbs {
		val := "written by " + wname
		mustExec(t, w, `UPDATE kv SET v = $1 WHERE k = 1`, val)
		for name, db := range dbs {
			if got := read(name, db); got != val {
				t.Errorf("after a write through %s, %s read %q, want %q", wname, name, got, val)
			}
		}
	}
}

// TestPostgresFreshAfterWrite checks the freshness promise under concurrency in one process: a read
// that begins after a write has returned sees that write or a later one.
func TestPostgresFreshAfterWrite(t *testing.T) {
	bare, db, _ := pgRedis(t, cachedsql.Options{})
	mustExec(t, bare, `CREATE TABLE counter (id int PRIMARY KEY, n int)`)
	mustExec(t, bare, `INSERT INTO counter VALUES (1, 0)`)
	ctx := context.Background()
	var returned atomic.Int64 // the highest value whose write has returned
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 2 {
		wg.Go(func() {
			for range 25 {
				var n int64
				// UPDATE … RETURNING arrives through Query: it must invalidate when its rows close.
				if err := db.QueryRowContext(ctx, `UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n`).Scan(&n); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				for {
					old := returned.Load()
					if n <= old || returned.CompareAndSwap(old, n) {
						break
					}
				}
			}
		})
	}
	for r := range 4 {
		wg.Go(func() {
			for range 60 {
				floor := returned.Load()
				var n int64
				if err := db.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if n < floor {
					errs <- fmt.Errorf("reader %d: stale read %d, a write of %d had returned", r, n, floor)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil || n != 50 {
		t.Errorf("final read: %d, %v; want 50", n, err)
	}
	if st := stats(t, db); st.Hits == 0 {
		t.Errorf("no read was a hit: the test did not exercise the cache: %+v", st)
	}
}
