package wrap

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The neutral interfaces are always present on a wrapper; these tests run the
// same calls through database/sql on a parent that lacks them, bare and
// wrapped, and check that the outcomes are equal.

// bareConnector opens parent conns without wrapping them.
type bareConnector struct {
	open func() driver.Conn
}

func (c bareConnector) Connect(context.Context) (driver.Conn, error) { return c.open(), nil }
func (c bareConnector) Driver() driver.Driver                        { return c }
func (c bareConnector) Open(string) (driver.Conn, error)             { return c.open(), nil }

// openOver returns a *sql.DB of one conn over open's conns, wrapped with ic
// unless ic is nil.
func openOver(t *testing.T, open func() driver.Conn, ic Interceptor) *sql.DB {
	t.Helper()
	if ic != nil {
		return openDB(t, connector{open: func(context.Context) (driver.Conn, error) { return open(), nil }, ic: ic})
	}
	db := sql.OpenDB(bareConnector{open})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// argLog records the arguments that reached a parent.
type argLog struct {
	mu   sync.Mutex
	last string
}

func (l *argLog) set(args any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = fmt.Sprintf("%#v", args)
}

func (l *argLog) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// execConn has ExecerContext and nothing else optional: database/sql
// converts arguments without a statement.
type execConn struct{ log *argLog }

func (c execConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("execConn: no prepare")
}
func (c execConn) Close() error              { return nil }
func (c execConn) Begin() (driver.Tx, error) { return nil, errors.New("execConn: no begin") }

func (c execConn) ExecContext(_ context.Context, _ string, args []driver.NamedValue) (driver.Result, error) {
	c.log.set(args)
	return driver.RowsAffected(1), nil
}

// prepConn has no optional interface: database/sql prepares every exec. When
// upper is set its statements have a ColumnConverter that upper-cases
// strings.
type prepConn struct {
	log   *argLog
	upper bool
}

func (c prepConn) Prepare(string) (driver.Stmt, error) {
	if c.upper {
		return ccStmt{plainStmt{c.log}}, nil
	}
	return plainStmt{c.log}, nil
}
func (c prepConn) Close() error              { return nil }
func (c prepConn) Begin() (driver.Tx, error) { return nil, errors.New("prepConn: no begin") }

// nvcConn is a prepConn with a NamedValueChecker: it drops arguments of type
// dropArg, accepts any uint64 and skips the rest.
type nvcConn struct{ prepConn }

type dropArg struct{}

func (nvcConn) CheckNamedValue(nv *driver.NamedValue) error {
	switch nv.Value.(type) {
	case dropArg:
		return driver.ErrRemoveArgument
	case uint64:
		return nil // the default conversion refuses a uint64 with the high bit set
	}
	return driver.ErrSkip
}

// plainStmt has StmtExecContext only.
type plainStmt struct{ log *argLog }

func (s plainStmt) Close() error  { return nil }
func (s plainStmt) NumInput() int { return -1 }
func (s plainStmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("plainStmt: legacy exec")
}
func (s plainStmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("plainStmt: legacy query")
}

func (s plainStmt) ExecContext(_ context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.log.set(args)
	return driver.RowsAffected(1), nil
}

// ccStmt is a plainStmt with a ColumnConverter that upper-cases strings.
type ccStmt struct{ plainStmt }

func (ccStmt) ColumnConverter(int) driver.ValueConverter { return upperConverter{} }

type upperConverter struct{}

func (upperConverter) ConvertValue(v any) (driver.Value, error) {
	if s, ok := v.(string); ok {
		return strings.ToUpper(s), nil
	}
	return driver.DefaultParameterConverter.ConvertValue(v)
}

// valuer is a driver.Valuer with a value receiver, so that database/sql
// turns a nil *valuer into NULL.
type valuer struct{ v driver.Value }

func (v valuer) Value() (driver.Value, error) { return v.v, nil }

// TestNamedValueCheckerNeutral: database/sql converts each argument to the
// same value, or fails with the same error, whether the conn and statement
// lack a NamedValueChecker or the wrapper's answers driver.ErrSkip for them.
func TestNamedValueCheckerNeutral(t *testing.T) {
	args := map[string]any{
		"int": 7, "int32": int32(7), "uint64 high bit": uint64(1) << 63, "float32": float32(1.5),
		"string": "abc", "bytes": []byte("abc"), "time": time.Unix(1, 0).UTC(), "nil": nil,
		"valuer": valuer{"v"}, "nil valuer": (*valuer)(nil), "named": sql.Named("n", 1),
		"struct": struct{}{}, "drop": dropArg{},
	}
	parents := map[string]func(*argLog) driver.Conn{
		"conn exec, no checker":             func(l *argLog) driver.Conn { return execConn{l} },
		"prepared, no checker":              func(l *argLog) driver.Conn { return prepConn{log: l} },
		"prepared, column converter":        func(l *argLog) driver.Conn { return prepConn{log: l, upper: true} },
		"prepared, conn checker":            func(l *argLog) driver.Conn { return nvcConn{prepConn{log: l}} },
		"prepared, conn checker, converter": func(l *argLog) driver.Conn { return nvcConn{prepConn{log: l, upper: true}} },
	}
	for pname, parent := range parents {
		for aname, arg := range args {
			t.Run(pname+"/"+aname, func(t *testing.T) {
				got := map[string]string{}
				for name, ic := range map[string]Interceptor{"bare": nil, "wrapped": passThrough{}} {
					log := &argLog{}
					db := openOver(t, func() driver.Conn { return parent(log) }, ic)
					_, err := db.ExecContext(t.Context(), "UPDATE t SET a = $1", arg)
					got[name] = fmt.Sprintf("args %s, error %v", log.get(), err)
				}
				if got["bare"] != got["wrapped"] {
					t.Errorf("bare:    %s\nwrapped: %s", got["bare"], got["wrapped"])
				}
			})
		}
	}
}

// rowsWrapper is an Interceptor that wraps the parent's rows as the caching
// layer does: WrapRows over ParentRows, with the parent's mask.
type rowsWrapper struct{ passThrough }

func (rowsWrapper) Query(ctx context.Context, _ *Conn, _ string, _ []driver.NamedValue, next QueryFunc) (driver.Rows, error) {
	rows, err := next(ctx)
	if err != nil {
		return nil, err
	}
	return WrapRows(ParentRows(rows), RowsMaskOf(rows)), nil
}

// describeRows runs a query on db and describes what database/sql shows of
// its rows: column types, values, result sets and errors.
func describeRows(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	types, err := rows.ColumnTypes()
	fmt.Fprintf(&b, "column types error %v\n", err)
	for _, ct := range types {
		length, lengthOK := ct.Length()
		nullable, nullableOK := ct.Nullable()
		precision, scale, psOK := ct.DecimalSize()
		fmt.Fprintf(&b, "%s scan %v db %q length %d %v nullable %v %v decimal %d %d %v\n", ct.Name(),
			ct.ScanType(), ct.DatabaseTypeName(), length, lengthOK, nullable, nullableOK, precision, scale, psOK)
	}
	for set := 0; set < 3; set++ {
		for rows.Next() {
			var a int64
			err := rows.Scan(&a)
			fmt.Fprintf(&b, "set %d row %d %v\n", set, a, err)
		}
		more := rows.NextResultSet()
		fmt.Fprintf(&b, "set %d: next result set %v, err %v\n", set, more, rows.Err())
		if !more {
			break
		}
	}
	fmt.Fprintf(&b, "close %v, err %v", rows.Close(), rows.Err())
	return b.String()
}

// TestRowsNeutral: database/sql shows the same column types, rows and result
// sets for a parent's rows and for the same rows wrapped, whether the parent
// rows lack every optional interface or have them all.
func TestRowsNeutral(t *testing.T) {
	parents := map[string]func() driver.Rows{
		"rows without optional interfaces": func() driver.Rows { return bareRows{&fakeRows{}} },
		"rows with all":                    func() driver.Rows { return &fakeRows{} },
	}
	for name, rows := range parents {
		t.Run(name, func(t *testing.T) {
			open := func() driver.Conn { return &fakeConn{rows: rows()} }
			bare := describeRows(t, openOver(t, open, nil))
			wrapped := describeRows(t, openOver(t, open, rowsWrapper{}))
			if bare != wrapped {
				t.Errorf("bare:\n%s\nwrapped:\n%s", bare, wrapped)
			}
		})
	}
}

// plainConn has no optional interface at all.
type plainConn struct{ f *fakeConn }

func (p plainConn) Prepare(query string) (driver.Stmt, error) {
	p.f.record(parentCall{method: "Prepare", query: query})
	return legacyStmt{&fakeStmt{conn: p.f, query: query}}, nil
}
func (p plainConn) Close() error              { return nil }
func (p plainConn) Begin() (driver.Tx, error) { return p.f.Begin() }

// TestPingerNeutral: without a parent Pinger, Ping through database/sql
// succeeds bare and wrapped, and the wrapper's Ping returns nil.
func TestPingerNeutral(t *testing.T) {
	for name, ic := range map[string]Interceptor{"bare": nil, "wrapped": passThrough{}} {
		f := &fakeConn{err: errBoom}
		db := openOver(t, func() driver.Conn { return plainConn{f} }, ic)
		if err := db.PingContext(t.Context()); err != nil {
			t.Errorf("%s: Ping: %v, want nil", name, err)
		}
	}
	wrapped, _ := WrapConn(plainConn{&fakeConn{err: errBoom}}, passThrough{})
	if err := wrapped.(driver.Pinger).Ping(t.Context()); err != nil {
		t.Errorf("wrapper's Ping without a parent Pinger: %v, want nil", err)
	}
}

// TestPrepareContextNeutral: without a parent PrepareContext, the wrapper's
// does what database/sql does: Prepare, and close the statement and return
// ctx.Err() if ctx ended.
func TestPrepareContextNeutral(t *testing.T) {
	f := &fakeConn{}
	wrapped, _ := WrapConn(plainConn{f}, passThrough{})
	pc := wrapped.(driver.ConnPrepareContext)

	s, err := pc.PrepareContext(t.Context(), q)
	if err != nil {
		t.Fatalf("PrepareContext: %v", err)
	}
	if _, ok := s.(driver.StmtQueryContext); ok {
		t.Errorf("statement of a legacy parent has StmtQueryContext")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s, err := pc.PrepareContext(ctx, q); s != nil || err != context.Canceled {
		t.Errorf("PrepareContext on an ended ctx: got %v, %v; want nil, context.Canceled", s, err)
	}
	var got []string
	for _, c := range f.recorded() {
		got = append(got, c.method)
	}
	if want := []string{"Prepare", "Prepare", "Stmt.Close"}; !reflect.DeepEqual(got, want) {
		t.Errorf("parent calls: got %q, want %q", got, want)
	}

	// Through database/sql, bare and wrapped: the same statement results.
	for name, ic := range map[string]Interceptor{"bare": nil, "wrapped": passThrough{}} {
		f := &fakeConn{}
		db := openOver(t, func() driver.Conn { return plainConn{f} }, ic)
		stmtQuery(t, db, 7)
		got = got[:0]
		for _, c := range f.recorded() {
			got = append(got, c.method)
		}
		if want := []string{"Prepare", "Stmt.Query", "Stmt.Close"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: parent calls: got %q, want %q", name, got, want)
		}
	}
}
