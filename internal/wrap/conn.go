package wrap

import (
	"context"
	"database/sql/driver"
	"fmt"
)

// QueryFunc runs a query on the parent driver; it is the next step handed to
// [Interceptor.Query].
type QueryFunc func(ctx context.Context) (driver.Rows, error)

// ExecFunc runs an exec on the parent driver; it is the next step handed to
// [Interceptor.Exec].
type ExecFunc func(ctx context.Context) (driver.Result, error)

// BeginFunc begins a transaction on the parent driver; it is the next step
// handed to [Interceptor.Begin].
type BeginFunc func(ctx context.Context) (driver.Tx, error)

// Interceptor is implemented by the caching layer. Every query, exec and begin
// made on a conn returned by [WrapConn], or on a statement prepared on it, goes
// through it.
//
// next runs the operation on the parent, through the parent method
// database/sql would have reached (ExecerContext, legacy Execer,
// StmtExecContext, legacy Stmt.Exec, ...). Legacy methods take no context:
// their next ignores ctx and gets args converted back to []driver.Value.
// next may be called with another ctx than the one given, at most once, and
// only before the interceptor method returns: a second or late call returns an
// error without reaching the parent. args belong to the caller and must not be
// retained after the method returns.
//
// If next returns [driver.ErrSkip] the interceptor must return it unchanged:
// database/sql then prepares the statement and the call comes back through
// the statement path.
//
// The methods are called the way database/sql calls a driver.Conn: never
// concurrently for one [Conn], but concurrently for different conns.
type Interceptor interface {
	Query(ctx context.Context, c *Conn, query string, args []driver.NamedValue, next QueryFunc) (driver.Rows, error)
	Exec(ctx context.Context, c *Conn, query string, args []driver.NamedValue, next ExecFunc) (driver.Result, error)
	Begin(ctx context.Context, c *Conn, opts driver.TxOptions, next BeginFunc) (driver.Tx, error)
}

// Conn is the core of one wrapped connection, shared by every statement
// prepared on it. Like a driver.Conn it is not safe for concurrent use.
type Conn struct {
	// State belongs to the interceptor: it sets it once, right after
	// WrapConn. The wrapper never reads it.
	State any
	// OnClose, when set (once, right after WrapConn), runs after every
	// Close of the conn, once the parent's Close has returned.
	OnClose func()

	parent driver.Conn
	ic     Interceptor
	calls  callCache

	// The parent's neutral interfaces (see doc.go), nil where it lacks one.
	prepCtx driver.ConnPrepareContext
	pinger  driver.Pinger
	nvc     driver.NamedValueChecker
}

// Parent returns the driver.Conn that c wraps.
func (c *Conn) Parent() driver.Conn { return c.parent }

// WrapConn wraps parent so that its statements go through ic. The returned
// conn implements exactly those of ConnBeginTx, ExecerContext, Execer,
// QueryerContext, Queryer, SessionResetter and Validator that parent
// implements, and always ConnPrepareContext, Pinger and NamedValueChecker
// (which answer as database/sql would without them when parent lacks them;
// see the package doc), plus Unwrap() driver.Conn and Core() *Conn. Ping,
// ResetSession, IsValid, CheckNamedValue and Close forward to parent
// unchanged. WrapConn panics if parent or ic is nil.
func WrapConn(parent driver.Conn, ic Interceptor) (driver.Conn, *Conn) {
	if parent == nil || ic == nil {
		panic("wrap: WrapConn with a nil parent or interceptor")
	}
	c := newCore(parent, ic)
	return connTable[connMaskOf(parent)](c), c
}

// Unwrap returns the parent of a conn returned by [WrapConn], or nil if c is
// not one. It is meant for values obtained from (*sql.Conn).Raw.
func Unwrap(c any) driver.Conn {
	if w, ok := c.(interface{ Core() *Conn }); ok {
		return w.Core().parent
	}
	return nil
}

func newCore(parent driver.Conn, ic Interceptor) *Conn {
	c := &Conn{parent: parent, ic: ic}
	c.prepCtx, _ = parent.(driver.ConnPrepareContext)
	c.pinger, _ = parent.(driver.Pinger)
	c.nvc, _ = parent.(driver.NamedValueChecker)
	c.calls.init(c)
	return c
}

// connChecks tests for the composed conn interfaces (those whose presence
// database/sql can tell from a neutral answer), in the bit order of the conn
// mixins below and of the generator's list.
var connChecks = [...]func(any) bool{
	has[driver.ConnBeginTx],
	has[driver.ExecerContext],
	has[driver.Execer], //nolint:staticcheck // legacy interface, kept on purpose
	has[driver.QueryerContext],
	has[driver.Queryer], //nolint:staticcheck // legacy interface, kept on purpose
	has[driver.SessionResetter],
	has[driver.Validator],
}

// connMaskOf returns the bits of the composed interfaces parent implements.
func connMaskOf(parent driver.Conn) uint { return maskOf(parent, connChecks[:]) }

// has reports whether v implements T.
func has[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

// maskOf sets bit i when checks[i] holds for v.
func maskOf(v any, checks []func(any) bool) uint {
	var m uint
	for i, check := range checks {
		if check(v) {
			m |= 1 << i
		}
	}
	return m
}

// connBase holds the methods every wrapped conn has, the neutral optional
// ones included. Each generated conn type embeds it plus one mixin per
// composed interface of its parent.
type connBase struct{ c *Conn }

var (
	_ driver.Conn               = connBase{}
	_ driver.ConnPrepareContext = connBase{}
	_ driver.Pinger             = connBase{}
	_ driver.NamedValueChecker  = connBase{}
)

// Core returns the shared core of the wrapped conn.
func (b connBase) Core() *Conn { return b.c }

// Unwrap returns the parent conn.
func (b connBase) Unwrap() driver.Conn { return b.c.parent }

// Prepare prepares query on the parent and wraps the statement.
func (b connBase) Prepare(query string) (driver.Stmt, error) {
	s, err := b.c.parent.Prepare(query)
	if err != nil {
		return nil, err
	}
	return wrapStmt(b.c, s, query), nil
}

// Close closes the parent conn, then runs OnClose.
func (b connBase) Close() error {
	err := b.c.parent.Close()
	if b.c.OnClose != nil {
		b.c.OnClose()
	}
	return err
}

// Begin goes through the interceptor with a background context and zero
// options; next calls the parent's legacy Begin.
func (b connBase) Begin() (driver.Tx, error) {
	k := b.c.calls.get()
	defer b.c.calls.put(k)
	k.op = opBegin
	return b.c.ic.Begin(context.Background(), b.c, driver.TxOptions{}, k.beginFn)
}

// PrepareContext prepares query on the parent and wraps the statement. For a
// parent without PrepareContext it does what database/sql does then: Prepare,
// and if ctx ended meanwhile, close the statement and return ctx.Err().
func (b connBase) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if b.c.prepCtx != nil {
		s, err := b.c.prepCtx.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		return wrapStmt(b.c, s, query), nil
	}
	s, err := b.c.parent.Prepare(query)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	default:
	}
	return wrapStmt(b.c, s, query), nil
}

// Ping forwards to the parent; without a parent Pinger it returns nil, as
// database/sql's Ping does for such a driver.
func (b connBase) Ping(ctx context.Context) error {
	if b.c.pinger == nil {
		return nil
	}
	return b.c.pinger.Ping(ctx)
}

// CheckNamedValue forwards to the parent; without a parent
// NamedValueChecker it returns driver.ErrSkip, which sends database/sql on to
// the statement's ColumnConverter or the default conversion, as absence does.
func (b connBase) CheckNamedValue(nv *driver.NamedValue) error {
	if b.c.nvc == nil {
		return driver.ErrSkip
	}
	return b.c.nvc.CheckNamedValue(nv)
}

// The mixins: one per composed conn interface, in mask bit order.

type (
	connBeginTx         struct{ c *Conn }
	connExecerContext   struct{ c *Conn }
	connExecer          struct{ c *Conn }
	connQueryerContext  struct{ c *Conn }
	connQueryer         struct{ c *Conn }
	connSessionResetter struct{ c *Conn }
	connValidator       struct{ c *Conn }
)

// Each single-bit generated type must implement its interface: this checks
// the mixins and the generator's bit order at once.
var (
	_ driver.ConnBeginTx     = (*conn001)(nil)
	_ driver.ExecerContext   = (*conn002)(nil)
	_ driver.Execer          = (*conn004)(nil) //nolint:staticcheck // legacy interface, kept on purpose
	_ driver.QueryerContext  = (*conn008)(nil)
	_ driver.Queryer         = (*conn016)(nil) //nolint:staticcheck // legacy interface, kept on purpose
	_ driver.SessionResetter = (*conn032)(nil)
	_ driver.Validator       = (*conn064)(nil)
)

// BeginTx goes through the interceptor; next calls the parent's BeginTx.
func (m connBeginTx) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	k := m.c.calls.get()
	defer m.c.calls.put(k)
	k.op, k.opts = opBeginTx, opts
	return m.c.ic.Begin(ctx, m.c, opts, k.beginFn)
}

// ExecContext goes through the interceptor; next calls the parent's ExecContext.
func (m connExecerContext) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	k := m.c.calls.get()
	defer m.c.calls.put(k)
	k.op, k.query, k.args = opExecerContext, query, args
	return m.c.ic.Exec(ctx, m.c, query, args, k.execFn)
}

// Exec goes through the interceptor with a background context; next calls
// the parent's legacy Exec.
func (m connExecer) Exec(query string, args []driver.Value) (driver.Result, error) {
	k := m.c.calls.get()
	defer m.c.calls.put(k)
	named := namedValues(args)
	k.op, k.query, k.args = opExecer, query, named
	return m.c.ic.Exec(context.Background(), m.c, query, named, k.execFn)
}

// QueryContext goes through the interceptor; next calls the parent's QueryContext.
func (m connQueryerContext) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	k := m.c.calls.get()
	defer m.c.calls.put(k)
	k.op, k.query, k.args = opQueryerContext, query, args
	return m.c.ic.Query(ctx, m.c, query, args, k.queryFn)
}

// Query goes through the interceptor with a background context; next calls
// the parent's legacy Query.
func (m connQueryer) Query(query string, args []driver.Value) (driver.Rows, error) {
	k := m.c.calls.get()
	defer m.c.calls.put(k)
	named := namedValues(args)
	k.op, k.query, k.args = opQueryer, query, named
	return m.c.ic.Query(context.Background(), m.c, query, named, k.queryFn)
}

// ResetSession forwards to the parent.
func (m connSessionResetter) ResetSession(ctx context.Context) error {
	return m.c.parent.(driver.SessionResetter).ResetSession(ctx)
}

// IsValid forwards to the parent.
func (m connValidator) IsValid() bool {
	return m.c.parent.(driver.Validator).IsValid()
}

// namedValues converts the args of a legacy method for the interceptor,
// numbering them from 1 as database/sql does.
func namedValues(args []driver.Value) []driver.NamedValue {
	if len(args) == 0 {
		return nil
	}
	named := make([]driver.NamedValue, len(args))
	for i, v := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named
}

// values converts args back for a legacy parent method, which has no names:
// a named arg cannot reach it.
func values(args []driver.NamedValue) ([]driver.Value, error) {
	if len(args) == 0 {
		return nil, nil
	}
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, fmt.Errorf("wrap: driver does not support named argument %q", a.Name)
		}
		vals[i] = a.Value
	}
	return vals, nil
}
