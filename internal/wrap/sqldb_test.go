package wrap

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"
	"slices"
	"testing"
)

// connector opens a parent conn with open and wraps it with ic; it stands in
// for the root's wrapped connector.
type connector struct {
	open func(ctx context.Context) (driver.Conn, error)
	ic   Interceptor
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	parent, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	wrapped, _ := WrapConn(parent, c.ic)
	return wrapped, nil
}

func (c connector) Driver() driver.Driver { return c }

// Open lets the connector serve as its own driver.Driver.
func (c connector) Open(string) (driver.Conn, error) { return c.Connect(context.Background()) }

// openDB returns a *sql.DB of one connection over the given connector.
func openDB(t *testing.T, c connector) *sql.DB {
	t.Helper()
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close db: %v", err)
		}
	})
	return db
}

// TestThroughSQLDB runs a query, an exec, a prepared query and a committed
// transaction through database/sql and checks each ends in the interceptor.
func TestThroughSQLDB(t *testing.T) {
	const upd = "UPDATE t SET a = 1"
	tests := []struct {
		name   string
		parent func(*fakeConn) driver.Conn
	}{
		{"full parent", func(f *fakeConn) driver.Conn { return f }},
		{"legacy parent", func(f *fakeConn) driver.Conn { return legacyConn{f} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeConn{}
			rec := &recorder{}
			db := openDB(t, connector{
				open: func(context.Context) (driver.Conn, error) { return tt.parent(f), nil },
				ic:   rec,
			})
			ctx := t.Context()
			var a int64
			if err := db.QueryRowContext(ctx, q, 7).Scan(&a); err != nil || a != 1 {
				t.Fatalf("QueryRow: got %d, %v; want 1, nil", a, err)
			}
			if _, err := db.ExecContext(ctx, upd); err != nil {
				t.Fatalf("Exec: %v", err)
			}
			stmtQuery(t, db, 7)
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatalf("BeginTx: %v", err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatalf("Commit: %v", err)
			}

			var got []string
			for _, e := range rec.recorded() {
				got = append(got, e.kind+" "+e.query)
			}
			want := []string{"Query " + q, "Exec " + upd, "Query " + q, "Begin "}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("interceptor calls: got %q, want %q", got, want)
			}
			if !slices.ContainsFunc(f.recorded(), func(c parentCall) bool { return c.method == "Tx.Commit" }) {
				t.Errorf("parent calls %+v: want a Tx.Commit", f.recorded())
			}
		})
	}
}

func stmtQuery(t *testing.T, db *sql.DB, arg any) {
	t.Helper()
	stmt, err := db.PrepareContext(t.Context(), q)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	defer stmt.Close()
	var a int64
	if err := stmt.QueryRowContext(t.Context(), arg).Scan(&a); err != nil || a != 1 {
		t.Fatalf("stmt QueryRow: got %d, %v; want 1, nil", a, err)
	}
}

// TestErrSkipThroughSQLDB checks the documented fallback: a conn-level query
// answered with driver.ErrSkip comes back through the statement path.
func TestErrSkipThroughSQLDB(t *testing.T) {
	rec := &recorder{}
	db := openDB(t, connector{
		open: func(context.Context) (driver.Conn, error) { return skipQueries{&fakeConn{}}, nil },
		ic:   rec,
	})
	var a int64
	if err := db.QueryRowContext(t.Context(), q, 7).Scan(&a); err != nil || a != 1 {
		t.Fatalf("QueryRow: got %d, %v; want 1, nil", a, err)
	}
	if got := len(rec.recorded()); got != 2 {
		t.Errorf("interceptor calls: got %d (%+v), want 2: conn path then stmt path", got, rec.recorded())
	}
}

// skipQueries answers every conn-level query with driver.ErrSkip.
type skipQueries struct{ *fakeConn }

func (skipQueries) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return nil, driver.ErrSkip
}
