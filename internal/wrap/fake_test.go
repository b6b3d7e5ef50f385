package wrap

import (
	"context"
	"database/sql/driver"
	"io"
	"reflect"
	"sync"
)

// ctxKey marks contexts so a test can tell which ctx reached the parent.
type ctxKey string

// parentCall is one method call seen by a fake parent.
type parentCall struct {
	method string
	query  string
	args   any // []driver.Value or []driver.NamedValue, as received
	mark   any // value of ctxKey("mark") in the ctx received, if any
	opts   driver.TxOptions
}

// fakeConn implements every optional conn interface and records each call.
// err, when set, is returned by every exec, query and begin.
type fakeConn struct {
	mu    sync.Mutex
	calls []parentCall
	err   error
	rows  driver.Rows // returned by queries; a fresh fakeRows when nil
}

func (f *fakeConn) record(c parentCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeConn) recorded() []parentCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]parentCall(nil), f.calls...)
}

func (f *fakeConn) result() (driver.Rows, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.rows != nil {
		return f.rows, nil
	}
	return &fakeRows{}, nil
}

func mark(ctx context.Context) any { return ctx.Value(ctxKey("mark")) }

func (f *fakeConn) Prepare(query string) (driver.Stmt, error) {
	f.record(parentCall{method: "Prepare", query: query})
	return &fakeStmt{conn: f, query: query}, nil
}

func (f *fakeConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	f.record(parentCall{method: "PrepareContext", query: query, mark: mark(ctx)})
	return &fakeStmt{conn: f, query: query}, nil
}

func (f *fakeConn) Close() error { f.record(parentCall{method: "Close"}); return f.err }

func (f *fakeConn) Begin() (driver.Tx, error) {
	f.record(parentCall{method: "Begin"})
	if f.err != nil {
		return nil, f.err
	}
	return &fakeTx{conn: f}, nil
}

func (f *fakeConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	f.record(parentCall{method: "BeginTx", mark: mark(ctx), opts: opts})
	if f.err != nil {
		return nil, f.err
	}
	return &fakeTx{conn: f}, nil
}

func (f *fakeConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	f.record(parentCall{method: "ExecContext", query: query, args: args, mark: mark(ctx)})
	return driver.RowsAffected(1), f.err
}

func (f *fakeConn) Exec(query string, args []driver.Value) (driver.Result, error) {
	f.record(parentCall{method: "Exec", query: query, args: args})
	return driver.RowsAffected(1), f.err
}

func (f *fakeConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	f.record(parentCall{method: "QueryContext", query: query, args: args, mark: mark(ctx)})
	return f.result()
}

func (f *fakeConn) Query(query string, args []driver.Value) (driver.Rows, error) {
	f.record(parentCall{method: "Query", query: query, args: args})
	return f.result()
}

func (f *fakeConn) Ping(ctx context.Context) error {
	f.record(parentCall{method: "Ping", mark: mark(ctx)})
	return f.err
}

func (f *fakeConn) ResetSession(ctx context.Context) error {
	f.record(parentCall{method: "ResetSession", mark: mark(ctx)})
	return f.err
}

func (f *fakeConn) IsValid() bool { f.record(parentCall{method: "IsValid"}); return true }

func (f *fakeConn) CheckNamedValue(*driver.NamedValue) error {
	f.record(parentCall{method: "CheckNamedValue"})
	return f.err
}

// legacyConn has only the methods of a pre-Go 1.8 driver: driver.Conn,
// Execer and Queryer. Its statements are legacyStmts.
type legacyConn struct{ f *fakeConn }

func (l legacyConn) Prepare(query string) (driver.Stmt, error) {
	l.f.record(parentCall{method: "Prepare", query: query})
	return legacyStmt{&fakeStmt{conn: l.f, query: query}}, nil
}

func (l legacyConn) Close() error              { return l.f.Close() }
func (l legacyConn) Begin() (driver.Tx, error) { return l.f.Begin() }

func (l legacyConn) Exec(query string, args []driver.Value) (driver.Result, error) {
	return l.f.Exec(query, args)
}

func (l legacyConn) Query(query string, args []driver.Value) (driver.Rows, error) {
	return l.f.Query(query, args)
}

// fakeStmt implements every optional statement interface and records its
// calls on its conn, with the method name prefixed by "Stmt.".
type fakeStmt struct {
	conn  *fakeConn
	query string
}

func (s *fakeStmt) Close() error  { s.conn.record(parentCall{method: "Stmt.Close"}); return nil }
func (s *fakeStmt) NumInput() int { return -1 }

func (s *fakeStmt) Exec(args []driver.Value) (driver.Result, error) {
	s.conn.record(parentCall{method: "Stmt.Exec", query: s.query, args: args})
	return driver.RowsAffected(1), s.conn.err
}

func (s *fakeStmt) Query(args []driver.Value) (driver.Rows, error) {
	s.conn.record(parentCall{method: "Stmt.Query", query: s.query, args: args})
	return s.conn.result()
}

func (s *fakeStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.conn.record(parentCall{method: "Stmt.ExecContext", query: s.query, args: args, mark: mark(ctx)})
	return driver.RowsAffected(1), s.conn.err
}

func (s *fakeStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.conn.record(parentCall{method: "Stmt.QueryContext", query: s.query, args: args, mark: mark(ctx)})
	return s.conn.result()
}

func (s *fakeStmt) CheckNamedValue(*driver.NamedValue) error { return driver.ErrSkip }

func (s *fakeStmt) ColumnConverter(int) driver.ValueConverter {
	return driver.DefaultParameterConverter
}

// legacyStmt has only the methods of driver.Stmt.
type legacyStmt struct{ s *fakeStmt }

func (l legacyStmt) Close() error  { return l.s.Close() }
func (l legacyStmt) NumInput() int { return l.s.NumInput() }

func (l legacyStmt) Exec(args []driver.Value) (driver.Result, error) { return l.s.Exec(args) }
func (l legacyStmt) Query(args []driver.Value) (driver.Rows, error)  { return l.s.Query(args) }

type fakeTx struct{ conn *fakeConn }

func (t *fakeTx) Commit() error   { t.conn.record(parentCall{method: "Tx.Commit"}); return nil }
func (t *fakeTx) Rollback() error { t.conn.record(parentCall{method: "Tx.Rollback"}); return nil }

// fakeRows implements RowsCore: one column "a" and one row holding int64(1),
// with distinctive answers from every optional method.
type fakeRows struct{ done bool }

func (r *fakeRows) Columns() []string { return []string{"a"} }
func (r *fakeRows) Close() error      { return nil }

func (r *fakeRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = int64(1)
	return nil
}

func (r *fakeRows) HasNextResultSet() bool                            { return true }
func (r *fakeRows) NextResultSet() error                              { return nil }
func (r *fakeRows) ColumnTypeScanType(int) reflect.Type               { return reflect.TypeFor[int64]() }
func (r *fakeRows) ColumnTypeDatabaseTypeName(int) string             { return "INT8" }
func (r *fakeRows) ColumnTypeLength(int) (int64, bool)                { return 8, true }
func (r *fakeRows) ColumnTypeNullable(int) (bool, bool)               { return true, true }
func (r *fakeRows) ColumnTypePrecisionScale(int) (int64, int64, bool) { return 10, 2, true }

// bareRows has only the methods of driver.Rows.
type bareRows struct{ r *fakeRows }

func (b bareRows) Columns() []string              { return b.r.Columns() }
func (b bareRows) Close() error                   { return b.r.Close() }
func (b bareRows) Next(dest []driver.Value) error { return b.r.Next(dest) }

// event is one call seen by a recorder.
type event struct {
	kind  string // "Query", "Exec" or "Begin"
	query string
	args  []driver.NamedValue
	mark  any
	opts  driver.TxOptions
}

// recorder is an Interceptor that records each call, then calls next with a
// ctx marked "next" (to check that next honours the ctx it is given).
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) recorded() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

func nextCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey("mark"), "next")
}

func (r *recorder) Query(ctx context.Context, _ *Conn, query string, args []driver.NamedValue, next QueryFunc) (driver.Rows, error) {
	r.add(event{kind: "Query", query: query, args: args, mark: mark(ctx)})
	return next(nextCtx(ctx))
}

func (r *recorder) Exec(ctx context.Context, _ *Conn, query string, args []driver.NamedValue, next ExecFunc) (driver.Result, error) {
	r.add(event{kind: "Exec", query: query, args: args, mark: mark(ctx)})
	return next(nextCtx(ctx))
}

func (r *recorder) Begin(ctx context.Context, _ *Conn, opts driver.TxOptions, next BeginFunc) (driver.Tx, error) {
	r.add(event{kind: "Begin", mark: mark(ctx), opts: opts})
	return next(nextCtx(ctx))
}

// passThrough is an Interceptor that only calls next.
type passThrough struct{}

func (passThrough) Query(ctx context.Context, _ *Conn, _ string, _ []driver.NamedValue, next QueryFunc) (driver.Rows, error) {
	return next(ctx)
}

func (passThrough) Exec(ctx context.Context, _ *Conn, _ string, _ []driver.NamedValue, next ExecFunc) (driver.Result, error) {
	return next(ctx)
}

func (passThrough) Begin(ctx context.Context, _ *Conn, _ driver.TxOptions, next BeginFunc) (driver.Tx, error) {
	return next(ctx)
}
