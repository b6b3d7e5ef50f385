package wrap

import (
	"context"
	"database/sql/driver"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
)

// pgDSN returns the test PostgreSQL DSN, after checking that it answers. It
// skips the test when it does not, but fails it in CI.
func pgDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("CACHEDSQL_TEST_PG")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		err = conn.Close(ctx)
	}
	if err != nil {
		msg := "PostgreSQL unreachable (" + err.Error() + "): start PostgreSQL on 127.0.0.1:5432 or set CACHEDSQL_TEST_PG"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dsn
}

// realDriver opens parent conns of one real driver.
type realDriver struct {
	name     string
	open     func(t *testing.T, ctx context.Context) (driver.Conn, error)
	query    string
	wantType reflect.Type // dynamic type of the parent conn
}

func realDrivers() []realDriver {
	const pgQuery = "SELECT 1::int8 AS a, 'x'::text AS b"
	return []realDriver{
		{
			name: "pgx Driver.Open", query: pgQuery, wantType: reflect.TypeFor[*stdlib.Conn](),
			open: func(t *testing.T, _ context.Context) (driver.Conn, error) {
				return stdlib.GetDefaultDriver().Open(pgDSN(t))
			},
		},
		{
			name: "pgx Connector", query: pgQuery, wantType: reflect.TypeFor[*stdlib.Conn](),
			open: func(t *testing.T, ctx context.Context) (driver.Conn, error) {
				cfg, err := pgx.ParseConfig(pgDSN(t))
				if err != nil {
					return nil, err
				}
				return stdlib.GetConnector(*cfg).Connect(ctx)
			},
		},
		{
			name: "sqlite3", query: "SELECT 1 AS a, 'x' AS b", wantType: reflect.TypeFor[*sqlite3.SQLiteConn](),
			open: func(*testing.T, context.Context) (driver.Conn, error) {
				return (&sqlite3.SQLiteDriver{}).Open(":memory:")
			},
		},
	}
}

// TestRealDriverMethodSets checks that a wrapped conn and a statement
// prepared on it have the parent's composed interfaces and all the neutral
// ones, and that rows wrapped with WrapRows keep the parent's mask.
func TestRealDriverMethodSets(t *testing.T) {
	for _, d := range realDrivers() {
		t.Run(d.name, func(t *testing.T) {
			parent, err := d.open(t, t.Context())
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { parent.Close() })
			wrapped, _ := WrapConn(parent, passThrough{})
			conns, stmts := allOf(connIfaces, connNeutral), allOf(stmtIfaces, stmtNeutral)
			sameSet(t, "conn", implemented(wrapped, conns), exposed(parent, connIfaces, connNeutral))

			ps := prepare(t, parent, d.query)
			ws := prepare(t, wrapped, d.query)
			sameSet(t, "stmt", implemented(ws, stmts), exposed(ps, stmtIfaces, stmtNeutral))

			rows := query(t, ps)
			wr := WrapRows(ParentRows(rows), RowsMaskOf(rows))
			sameSet(t, "rows", implemented(wr, rowsIfaces), named(rowsAll, rowsIfaces))
			if got, want := RowsMaskOf(wr), RowsMaskOf(rows); got != want {
				t.Errorf("rows mask: got %06b, want the parent's %06b", got, want)
			}
			t.Logf("parent implements: conn %v; stmt %v; rows %v",
				implemented(parent, conns), implemented(ps, stmts), implemented(rows, rowsIfaces))
			if got, want := wr.Columns(), rows.Columns(); !reflect.DeepEqual(got, want) {
				t.Errorf("columns: got %q, want %q", got, want)
			}
			// pgx runs one query at a time on a conn: close before the next.
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
			// A query through the wrapped statement must reach the parent.
			if err := query(t, ws).Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func prepare(t *testing.T, c driver.Conn, query string) driver.Stmt {
	t.Helper()
	s, err := c.(driver.ConnPrepareContext).PrepareContext(t.Context(), query)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// query runs s without arguments and returns its rows.
func query(t *testing.T, s driver.Stmt) driver.Rows {
	t.Helper()
	rows, err := s.(driver.StmtQueryContext).QueryContext(t.Context(), nil)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	return rows
}

// TestRawUnwrap checks the escape hatch: inside (*sql.Conn).Raw, Unwrap gives
// back the real driver's conn.
func TestRawUnwrap(t *testing.T) {
	for _, d := range realDrivers() {
		t.Run(d.name, func(t *testing.T) {
			db := openDB(t, connector{
				open: func(ctx context.Context) (driver.Conn, error) { return d.open(t, ctx) },
				ic:   passThrough{},
			})
			conn, err := db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var a int64
			if err := conn.QueryRowContext(t.Context(), "SELECT 1").Scan(&a); err != nil || a != 1 {
				t.Fatalf("query: got %d, %v; want 1, nil", a, err)
			}
			err = conn.Raw(func(dc any) error {
				byMethod := dc.(interface{ Unwrap() driver.Conn }).Unwrap()
				if got := reflect.TypeOf(byMethod); got != d.wantType {
					t.Errorf("Unwrap method: got %v, want %v", got, d.wantType)
				}
				if got := Unwrap(dc); got != byMethod {
					t.Errorf("Unwrap(dc): got %T, want the Unwrap method's %T", got, byMethod)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnwrapOther(t *testing.T) {
	if got := Unwrap(&fakeConn{}); got != nil {
		t.Errorf("Unwrap(unwrapped conn) = %T, want nil", got)
	}
}
