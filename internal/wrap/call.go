package wrap

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
)

// errNextReused is returned by a next function called twice, or after the
// interceptor method it was handed to has returned.
var errNextReused = errors.New("wrap: next called twice or after the interceptor returned")

// op names the parent method a next function reaches.
type op uint8

const (
	opQueryerContext op = iota
	opQueryer
	opStmtQueryContext
	opStmtQuery
	opExecerContext
	opExecer
	opStmtExecContext
	opStmtExec
	opBeginTx
	opBegin
)

// call holds the operands of one intercepted operation, so that next can be a
// method value bound once per call object rather than a closure allocated on
// every statement: this is what keeps the pass-through path free of
// allocations. Each Conn keeps one spare call (see callCache).
type call struct {
	c     *Conn
	op    op
	stmt  driver.Stmt // for the statement ops
	query string
	args  []driver.NamedValue
	opts  driver.TxOptions

	// armed is true from get to the first run of next; clearing it on use
	// enforces "at most once, and not after return".
	armed atomic.Bool

	queryFn QueryFunc
	execFn  ExecFunc
	beginFn BeginFunc
}

func newCall(c *Conn) *call {
	k := &call{c: c}
	k.queryFn, k.execFn, k.beginFn = k.runQuery, k.runExec, k.runBegin
	return k
}

// callCache hands out the conn's spare call. database/sql never uses one
// driver.Conn from two goroutines at once, but an interceptor may re-enter
// the wrapped conn (or a statement on it) before calling next; the busy flag
// makes such a nested call allocate its own call instead of clobbering the
// spare.
type callCache struct {
	spare *call
	busy  atomic.Bool
}

func (cc *callCache) init(c *Conn) { cc.spare = newCall(c) }

func (cc *callCache) get() *call {
	k := cc.spare
	if !cc.busy.CompareAndSwap(false, true) {
		k = newCall(k.c)
	}
	k.armed.Store(true)
	return k
}

func (cc *callCache) put(k *call) {
	k.armed.Store(false)
	k.stmt, k.query, k.args, k.opts = nil, "", nil, driver.TxOptions{}
	if k == cc.spare {
		cc.busy.Store(false)
	}
}

// runQuery, runExec and runBegin are the next functions: they reach the parent
// method named by k.op, once.
func (k *call) runQuery(ctx context.Context) (driver.Rows, error) {
	if !k.armed.CompareAndSwap(true, false) {
		return nil, errNextReused
	}
	switch k.op {
	case opQueryerContext:
		return k.c.parent.(driver.QueryerContext).QueryContext(ctx, k.query, k.args)
	case opStmtQueryContext:
		return k.stmt.(driver.StmtQueryContext).QueryContext(ctx, k.args)
	}
	vals, err := values(k.args)
	if err != nil {
		return nil, err
	}
	if k.op == opStmtQuery {
		return k.stmt.Query(vals) //nolint:staticcheck // the parent only has the legacy method
	}
	return k.c.parent.(driver.Queryer).Query(k.query, vals) //nolint:staticcheck // legacy on purpose
}

func (k *call) runExec(ctx context.Context) (driver.Result, error) {
	if !k.armed.CompareAndSwap(true, false) {
		return nil, errNextReused
	}
	switch k.op {
	case opExecerContext:
		return k.c.parent.(driver.ExecerContext).ExecContext(ctx, k.query, k.args)
	case opStmtExecContext:
		return k.stmt.(driver.StmtExecContext).ExecContext(ctx, k.args)
	}
	vals, err := values(k.args)
	if err != nil {
		return nil, err
	}
	if k.op == opStmtExec {
		return k.stmt.Exec(vals) //nolint:staticcheck // the parent only has the legacy method
	}
	return k.c.parent.(driver.Execer).Exec(k.query, vals) //nolint:staticcheck // legacy on purpose
}

func (k *call) runBegin(ctx context.Context) (driver.Tx, error) {
	if !k.armed.CompareAndSwap(true, false) {
		return nil, errNextReused
	}
	if k.op == opBeginTx {
		return k.c.parent.(driver.ConnBeginTx).BeginTx(ctx, k.opts)
	}
	return k.c.parent.Begin() //nolint:staticcheck // the parent only has the legacy method
}
