package cachedsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// iface names an optional database/sql/driver interface and tests for it. A neutral one is on every
// wrapper, answering as absence where the parent lacks it (see internal/wrap's package doc).
type iface struct {
	name    string
	has     func(any) bool
	neutral bool
}

func implements[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

var (
	connIfaces = []iface{
		{"ConnBeginTx", implements[driver.ConnBeginTx], false},
		{"ConnPrepareContext", implements[driver.ConnPrepareContext], true},
		{"ExecerContext", implements[driver.ExecerContext], false},
		{"Execer", implements[driver.Execer], false}, //nolint:staticcheck // the legacy interface is part of the method set
		{"QueryerContext", implements[driver.QueryerContext], false},
		{"Queryer", implements[driver.Queryer], false}, //nolint:staticcheck // legacy on purpose
		{"Pinger", implements[driver.Pinger], true},
		{"SessionResetter", implements[driver.SessionResetter], false},
		{"Validator", implements[driver.Validator], false},
		{"NamedValueChecker", implements[driver.NamedValueChecker], true},
	}
	stmtIfaces = []iface{
		{"StmtExecContext", implements[driver.StmtExecContext], false},
		{"StmtQueryContext", implements[driver.StmtQueryContext], false},
		{"NamedValueChecker", implements[driver.NamedValueChecker], true},
		{"ColumnConverter", implements[driver.ColumnConverter], false}, //nolint:staticcheck // legacy on purpose
	}
	rowsIfaces = []iface{
		{"RowsNextResultSet", implements[driver.RowsNextResultSet], true},
		{"RowsColumnTypeScanType", implements[driver.RowsColumnTypeScanType], true},
		{"RowsColumnTypeDatabaseTypeName", implements[driver.RowsColumnTypeDatabaseTypeName], true},
		{"RowsColumnTypeLength", implements[driver.RowsColumnTypeLength], true},
		{"RowsColumnTypeNullable", implements[driver.RowsColumnTypeNullable], true},
		{"RowsColumnTypePrecisionScale", implements[driver.RowsColumnTypePrecisionScale], true},
	}
)

// ifaceSet lists the interfaces of list that v implements.
func ifaceSet(v any, list []iface) []string {
	var out []string
	for _, i := range list {
		if i.has(v) {
			out = append(out, i.name)
		}
	}
	return out
}

func sameIfaces(t testing.TB, what string, got, parent any, list []iface) {
	t.Helper()
	g, w := ifaceSet(got, list), ifaceSet(parent, list)
	var want []string
	for _, i := range list {
		if i.neutral || i.has(parent) {
			want = append(want, i.name)
		}
	}
	if !slices.Equal(g, want) {
		t.Errorf("%s (%T): implements %v, want %v (parent %T implements %v)", what, got, g, want, parent, w)
	}
}

// drainDriverRows reads rows to the end and closes them.
func drainDriverRows(t testing.TB, rows driver.Rows) [][]driver.Value {
	t.Helper()
	defer rows.Close()
	var out [][]driver.Value
	for {
		dest := make([]driver.Value, len(rows.Columns()))
		err := rows.Next(dest)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("driver rows: %v", err)
		}
		out = append(out, dest)
	}
}

// checkMethodSets compares, inside (*sql.Conn).Raw, the wrapped conn, a statement prepared on it and the
// rows of a miss and of a hit with the parent's.
func checkMethodSets(t testing.TB, db *sql.DB, query string) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := stats(t, db)
	err = conn.Raw(func(dc any) error {
		parent := cachedsql.Unwrap(dc)
		if parent == dc {
			t.Fatalf("Unwrap(%T) returned its argument: not a wrapped conn", dc)
		}
		sameIfaces(t, "conn", dc, parent, connIfaces)

		ws, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer ws.Close()
		ps, err := parent.(driver.ConnPrepareContext).PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer ps.Close()
		sameIfaces(t, "stmt", ws, ps, stmtIfaces)

		prows, err := parent.(driver.QueryerContext).QueryContext(ctx, query, nil)
		if err != nil {
			return err
		}
		want := drainDriverRows(t, prows)
		for _, what := range []string{"miss rows", "hit rows"} {
			rows, err := dc.(driver.QueryerContext).QueryContext(ctx, query, nil)
			if err != nil {
				return err
			}
			sameIfaces(t, what, rows, prows, rowsIfaces)
			if got := drainDriverRows(t, rows); len(got) != len(want) {
				t.Errorf("%s: %d rows, want %d", what, len(got), len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := stats(t, db); st.Misses != before.Misses+1 || st.Hits != before.Hits+1 {
		t.Errorf("driver-level reads: misses %d→%d hits %d→%d, want one miss then one hit",
			before.Misses, st.Misses, before.Hits, st.Hits)
	}
}

// columnTypes returns what (*sql.Rows).ColumnTypes reports for query, and reads the rows to the end.
func columnTypes(t testing.TB, db *sql.DB, query string, args ...any) []colType {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var out []colType
	for _, ct := range cts {
		c := colType{Name: ct.Name(), DBType: ct.DatabaseTypeName(), Scan: ct.ScanType()}
		c.Nullable, c.NullOK = ct.Nullable()
		c.Length, c.LengthOK = ct.Length()
		c.Prec, c.Scale, c.DecimalOK = ct.DecimalSize()
		out = append(out, c)
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkColumnTypes compares the column metadata of a miss and of a hit with the bare driver's.
func checkColumnTypes(t testing.TB, bare, db *sql.DB, query string, args ...any) {
	t.Helper()
	want := columnTypes(t, bare, query, args...)
	hits := stats(t, db).Hits
	for _, what := range []string{"miss", "hit"} {
		if got := columnTypes(t, db, query, args...); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: column types\n got %+v\nwant %+v", what, got, want)
		}
	}
	if got := stats(t, db).Hits; got != hits+1 {
		t.Errorf("hits %d, want %d: the second read was not served from the cache", got, hits+1)
	}
}

func TestMethodSetsSQLite(t *testing.T) {
	bare, db := openSQLite(t, cachedsql.Options{})
	checkMethodSets(t, db, `SELECT id, name, score, born, avatar FROM users ORDER BY id`)
	checkColumnTypes(t, bare, db, `SELECT id, name, score, born, avatar, 1 + id AS expr FROM users WHERE id > ?`, 0)
}

// pgMethodSetTable creates a table whose columns report length, precision and nullability.
func pgMethodSetTable(t testing.TB, bare *sql.DB) {
	t.Helper()
	mustExec(t, bare, `CREATE TABLE items (id int PRIMARY KEY, code varchar(12) NOT NULL, price numeric(10,2),
		note text, at timestamptz, ok bool, data bytea)`)
	mustExec(t, bare, `INSERT INTO items VALUES (1, 'a', 1.25, 'x', '2024-01-02 03:04:05+00', true, '\x01'),
		(2, 'b', NULL, NULL, NULL, NULL, NULL)`)
}

func TestMethodSetsPgxOpen(t *testing.T) {
	onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) {
		bare, db, _ := pgRedis(t, cachedsql.Options{})
		watch(db)
		pgMethodSetTable(t, bare)
		checkMethodSets(t, db, `SELECT id, code, price FROM items ORDER BY id`)
		checkColumnTypes(t, bare, db, `SELECT id, code, price, note, at, ok, data, price * 2 AS twice FROM items WHERE id > $1`, 0)
	})
}

func TestMethodSetsPgxConnector(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	pgMethodSetTable(t, bare)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cachedsql.WrapConnector(stdlib.GetConnector(*cfg), cachedsql.Options{
		Identity: cachedsql.IdentityOf("pgx", dsn), Redis: testenv.Redis(t), Namespace: namespace(t), Rules: cacheAll(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	checkMethodSets(t, db, `SELECT id, code, price FROM items ORDER BY id`)
	checkColumnTypes(t, bare, db, `SELECT id, code, price, note, at, ok, data FROM items WHERE id > $1`, 0)
}

// stmtRows reads every row of a prepared statement as []any.
func stmtRows(t *testing.T, stmt *sql.Stmt, args ...any) [][]any {
	t.Helper()
	rows, err := stmt.Query(args...)
	if err != nil {
		t.Fatal(err)
	}
	return collectRows(t, rows)
}

// checkPrepared runs the prepared-statement scenario on db, whose users table is openSQLite's (or a copy):
// a prepared read misses then hits, and a prepared write invalidates it.
func checkPrepared(t *testing.T, db *sql.DB, read, write string) {
	t.Helper()
	sel, err := db.Prepare(read)
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	upd, err := db.Prepare(write)
	if err != nil {
		t.Fatal(err)
	}
	defer upd.Close()
	want := [][]any{{int64(1), "ann"}}
	for i := range 2 {
		if got := stmtRows(t, sel, 1); !reflect.DeepEqual(got, want) {
			t.Fatalf("read %d: got %v, want %v", i, got, want)
		}
	}
	if st := stats(t, db); st.Misses != 1 || st.Hits != 1 || st.Fills != 1 {
		t.Fatalf("prepared read twice: misses %d hits %d fills %d, want 1, 1, 1", st.Misses, st.Hits, st.Fills)
	}
	if _, err := upd.Exec("ann2", 1); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, db); st.Invalidations == 0 {
		t.Errorf("prepared write replaced no token: %+v", st)
	}
	want = [][]any{{int64(1), "ann2"}}
	if got := stmtRows(t, sel, 1); !reflect.DeepEqual(got, want) {
		t.Fatalf("read after a prepared write: got %v, want %v", got, want)
	}
	if st := stats(t, db); st.Misses != 2 || st.Hits != 1 {
		t.Errorf("after a prepared write: misses %d hits %d, want 2 and 1", st.Misses, st.Hits)
	}
}

func TestPreparedSQLite(t *testing.T) {
	_, db := openSQLite(t, cachedsql.Options{})
	checkPrepared(t, db, `SELECT id, name FROM users WHERE id = ?`, `UPDATE users SET name = ? WHERE id = ?`)
}

func TestPreparedPostgres(t *testing.T) {
	bare, db, _ := pgRedis(t, cachedsql.Options{})
	mustExec(t, bare, `CREATE TABLE users (id int8 PRIMARY KEY, name text)`)
	mustExec(t, bare, `INSERT INTO users VALUES (1, 'ann'), (2, 'bob')`)
	checkPrepared(t, db, `SELECT id, name FROM users WHERE id = $1`, `UPDATE users SET name = $1 WHERE id = $2`)
}

// legacyDriver opens real SQLite connections behind a facade offering database/sql only the context-free
// methods (Prepare, Begin, Stmt.Exec, Stmt.Query, and with queryer the legacy Execer and Queryer): no
// maintained driver still lacks the context methods, so this is the only way to reach those paths.
type legacyDriver struct{ queryer bool }

func (d legacyDriver) Open(dsn string) (driver.Conn, error) {
	c, err := (&sqlite3.SQLiteDriver{}).Open(dsn)
	if err != nil {
		return nil, err
	}
	lc := legacyConn{c: c.(*sqlite3.SQLiteConn)}
	if d.queryer {
		return legacyQueryerConn{lc}, nil
	}
	return lc, nil
}

type legacyConn struct{ c *sqlite3.SQLiteConn }

func (c legacyConn) Prepare(query string) (driver.Stmt, error) {
	s, err := c.c.Prepare(query)
	if err != nil {
		return nil, err
	}
	return legacyStmt{s: s.(*sqlite3.SQLiteStmt)}, nil
}

func (c legacyConn) Close() error              { return c.c.Close() }
func (c legacyConn) Begin() (driver.Tx, error) { return c.c.Begin() } //nolint:staticcheck // legacy on purpose

type legacyQueryerConn struct{ legacyConn }

func (c legacyQueryerConn) Exec(query string, args []driver.Value) (driver.Result, error) {
	return c.c.Exec(query, args)
}

func (c legacyQueryerConn) Query(query string, args []driver.Value) (driver.Rows, error) {
	return c.c.Query(query, args)
}

type legacyStmt struct{ s *sqlite3.SQLiteStmt }

func (s legacyStmt) Close() error  { return s.s.Close() }
func (s legacyStmt) NumInput() int { return s.s.NumInput() }

func (s legacyStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.s.Exec(args) //nolint:staticcheck // legacy on purpose
}

func (s legacyStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.s.Query(args) //nolint:staticcheck // legacy on purpose
}

func TestLegacyDriverPaths(t *testing.T) {
	for _, tc := range []struct {
		name    string
		queryer bool
	}{{"prepare only", false}, {"legacy queryer", true}} {
		t.Run(tc.name, func(t *testing.T) {
			bare, _ := openSQLite(t, cachedsql.Options{}) // creates and fills the file
			var path string
			if err := bare.QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
				t.Fatal(err)
			}
			d, err := cachedsql.WrapDriver(legacyDriver{queryer: tc.queryer}, cachedsql.Options{Rules: cacheAll(t)})
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.(driver.DriverContext).OpenConnector(path)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			checkLegacyConnMethods(t, db, tc.queryer)
			checkPrepared(t, db, `SELECT id, name FROM users WHERE id = ?`, `UPDATE users SET name = ? WHERE id = ?`)

			// db.Query and db.Exec reach the legacy Queryer and Execer, or are prepared.
			const q = `SELECT total FROM orders WHERE id = ?`
			want := queryAll(t, bare, context.Background(), q, 3)
			queryAll(t, db, context.Background(), q, 3)
			if got := queryAll(t, db, context.Background(), q, 3); !reflect.DeepEqual(got, want) {
				t.Fatalf("hit: got %v, want %v", got, want)
			}
			mustExec(t, db, `UPDATE orders SET total = 6 WHERE id = ?`, 3)
			want = [][]any{{int64(6)}}
			if got := queryAll(t, db, context.Background(), q, 3); !reflect.DeepEqual(got, want) {
				t.Fatalf("read after a write: got %v, want %v", got, want)
			}
			checkLegacyTx(t, db, q)
		})
	}
}

// checkLegacyConnMethods checks that the wrapped legacy conn has the facade's method set.
func checkLegacyConnMethods(t *testing.T, db *sql.DB, queryer bool) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		sameIfaces(t, "legacy conn", dc, cachedsql.Unwrap(dc), connIfaces)
		if _, ok := dc.(driver.Queryer); ok != queryer { //nolint:staticcheck // legacy on purpose
			t.Errorf("wrapped conn implements driver.Queryer: %v, want %v", ok, queryer)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkLegacyTx runs a transaction through the legacy Begin: a rollback keeps the cached entry of q, a
// commit replaces it.
func checkLegacyTx(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	ctx := context.Background()
	queryAll(t, db, ctx, q, 3) // fill
	for _, commit := range []bool{false, true} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, `UPDATE orders SET total = 7 WHERE id = ?`, 3)
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil && !errors.Is(err, sql.ErrTxDone) {
			t.Fatal(err)
		}
		want := [][]any{{int64(6)}}
		if commit {
			want = [][]any{{int64(7)}}
		}
		if got := queryAll(t, db, ctx, q, 3); !reflect.DeepEqual(got, want) {
			t.Errorf("after a legacy transaction (commit %v): got %v, want %v", commit, got, want)
		}
	}
}
