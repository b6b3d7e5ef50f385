package wrap

import (
	"context"
	"database/sql/driver"
)

// stmt is the core of one wrapped prepared statement. Its Exec and Query go
// through the owning conn's interceptor with the text the statement was
// prepared from.
type stmt struct {
	c      *Conn
	parent driver.Stmt
	query  string
	// nvc is the parent statement's NamedValueChecker, else the parent
	// conn's, else nil: the one database/sql would have asked.
	nvc driver.NamedValueChecker
}

// wrapStmt wraps parent in the generated type that has exactly the parent's
// composed statement interfaces, and NamedValueChecker.
func wrapStmt(c *Conn, parent driver.Stmt, query string) driver.Stmt {
	s := &stmt{c: c, parent: parent, query: query, nvc: c.nvc}
	if nvc, ok := parent.(driver.NamedValueChecker); ok {
		s.nvc = nvc
	}
	return stmtTable[stmtMaskOf(parent)](s)
}

// stmtChecks tests for the composed statement interfaces, in the bit order
// of the stmt mixins below and of the generator's list.
var stmtChecks = [...]func(any) bool{
	has[driver.StmtExecContext],
	has[driver.StmtQueryContext],
	has[driver.ColumnConverter], //nolint:staticcheck // legacy interface, kept on purpose
}

// stmtMaskOf returns the bits of the composed interfaces parent implements.
func stmtMaskOf(parent driver.Stmt) uint { return maskOf(parent, stmtChecks[:]) }

// stmtBase holds the methods every wrapped statement has, NamedValueChecker
// included.
type stmtBase struct{ s *stmt }

var (
	_ driver.Stmt              = stmtBase{}
	_ driver.NamedValueChecker = stmtBase{}
)

// CheckNamedValue asks the checker database/sql would have asked without
// it: the parent statement's, else the parent conn's. With neither it
// returns driver.ErrSkip, which sends database/sql on to ColumnConverter or
// the default conversion, as absence does.
func (b stmtBase) CheckNamedValue(nv *driver.NamedValue) error {
	if b.s.nvc == nil {
		return driver.ErrSkip
	}
	return b.s.nvc.CheckNamedValue(nv)
}

// Close closes the parent statement.
func (b stmtBase) Close() error { return b.s.parent.Close() }

// NumInput forwards to the parent statement.
func (b stmtBase) NumInput() int { return b.s.parent.NumInput() }

// Exec goes through the interceptor with a background context; next calls
// the parent's legacy Exec.
func (b stmtBase) Exec(args []driver.Value) (driver.Result, error) {
	c := b.s.c
	k := c.calls.get()
	defer c.calls.put(k)
	named := namedValues(args)
	k.op, k.stmt, k.query, k.args = opStmtExec, b.s.parent, b.s.query, named
	return c.ic.Exec(context.Background(), c, b.s.query, named, k.execFn)
}

// Query goes through the interceptor with a background context; next calls
// the parent's legacy Query.
func (b stmtBase) Query(args []driver.Value) (driver.Rows, error) {
	c := b.s.c
	k := c.calls.get()
	defer c.calls.put(k)
	named := namedValues(args)
	k.op, k.stmt, k.query, k.args = opStmtQuery, b.s.parent, b.s.query, named
	return c.ic.Query(context.Background(), c, b.s.query, named, k.queryFn)
}

// The mixins: one per composed statement interface, in mask bit order.

type (
	stmtExecContext     struct{ s *stmt }
	stmtQueryContext    struct{ s *stmt }
	stmtColumnConverter struct{ s *stmt }
)

// Each single-bit generated type must implement its interface: this checks
// the mixins and the generator's bit order at once.
var (
	_ driver.StmtExecContext  = (*stmt1)(nil)
	_ driver.StmtQueryContext = (*stmt2)(nil)
	_ driver.ColumnConverter  = (*stmt4)(nil) //nolint:staticcheck // legacy interface, kept on purpose
)

// ExecContext goes through the interceptor; next calls the parent's ExecContext.
func (m stmtExecContext) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	c := m.s.c
	k := c.calls.get()
	defer c.calls.put(k)
	k.op, k.stmt, k.query, k.args = opStmtExecContext, m.s.parent, m.s.query, args
	return c.ic.Exec(ctx, c, m.s.query, args, k.execFn)
}

// QueryContext goes through the interceptor; next calls the parent's QueryContext.
func (m stmtQueryContext) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	c := m.s.c
	k := c.calls.get()
	defer c.calls.put(k)
	k.op, k.stmt, k.query, k.args = opStmtQueryContext, m.s.parent, m.s.query, args
	return c.ic.Query(ctx, c, m.s.query, args, k.queryFn)
}

// ColumnConverter forwards to the parent statement.
func (m stmtColumnConverter) ColumnConverter(idx int) driver.ValueConverter {
	return m.s.parent.(driver.ColumnConverter).ColumnConverter(idx) //nolint:staticcheck // legacy on purpose
}
