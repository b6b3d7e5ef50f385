package wrap

import (
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"testing"
)

var errBoom = errors.New("boom")

const q = "SELECT a FROM t WHERE b = $1"

// routingCase calls one path of a wrapped conn with ctx and returns its error.
type routingCase struct {
	name       string
	legacy     bool // parent is a legacyConn rather than a full fakeConn
	run        func(ctx context.Context, c driver.Conn) error
	wantEvent  event
	wantParent []parentCall
}

func routingCases() []routingCase {
	named := []driver.NamedValue{{Ordinal: 1, Value: int64(7)}}
	vals := []driver.Value{int64(7)}
	prepared := parentCall{method: "Prepare", query: q}
	return []routingCase{
		{
			name: "conn ExecContext",
			run: func(ctx context.Context, c driver.Conn) error {
				_, err := c.(driver.ExecerContext).ExecContext(ctx, q, named)
				return err
			},
			wantEvent:  event{kind: "Exec", query: q, args: named, mark: "caller"},
			wantParent: []parentCall{{method: "ExecContext", query: q, args: named, mark: "next"}},
		},
		{
			name: "conn Exec (legacy)", legacy: true,
			run: func(_ context.Context, c driver.Conn) error {
				_, err := c.(driver.Execer).Exec(q, vals)
				return err
			},
			wantEvent:  event{kind: "Exec", query: q, args: named},
			wantParent: []parentCall{{method: "Exec", query: q, args: vals}},
		},
		{
			name: "stmt ExecContext",
			run: func(ctx context.Context, c driver.Conn) error {
				return withStmt(c, func(s driver.Stmt) error {
					_, err := s.(driver.StmtExecContext).ExecContext(ctx, named)
					return err
				})
			},
			wantEvent:  event{kind: "Exec", query: q, args: named, mark: "caller"},
			wantParent: []parentCall{prepared, {method: "Stmt.ExecContext", query: q, args: named, mark: "next"}},
		},
		{
			name: "stmt Exec (legacy)", legacy: true,
			run: func(_ context.Context, c driver.Conn) error {
				return withStmt(c, func(s driver.Stmt) error {
					_, err := s.Exec(vals) //nolint:staticcheck // testing the legacy path
					return err
				})
			},
			wantEvent:  event{kind: "Exec", query: q, args: named},
			wantParent: []parentCall{prepared, {method: "Stmt.Exec", query: q, args: vals}},
		},
		{
			name: "conn QueryContext",
			run: func(ctx context.Context, c driver.Conn) error {
				_, err := c.(driver.QueryerContext).QueryContext(ctx, q, named)
				return err
			},
			wantEvent:  event{kind: "Query", query: q, args: named, mark: "caller"},
			wantParent: []parentCall{{method: "QueryContext", query: q, args: named, mark: "next"}},
		},
		{
			name: "conn Query (legacy)", legacy: true,
			run: func(_ context.Context, c driver.Conn) error {
				_, err := c.(driver.Queryer).Query(q, vals)
				return err
			},
			wantEvent:  event{kind: "Query", query: q, args: named},
			wantParent: []parentCall{{method: "Query", query: q, args: vals}},
		},
		{
			name: "stmt QueryContext via PrepareContext",
			run: func(ctx context.Context, c driver.Conn) error {
				s, err := c.(driver.ConnPrepareContext).PrepareContext(ctx, q)
				if err != nil {
					return err
				}
				_, err = s.(driver.StmtQueryContext).QueryContext(ctx, named)
				return err
			},
			wantEvent: event{kind: "Query", query: q, args: named, mark: "caller"},
			wantParent: []parentCall{
				{method: "PrepareContext", query: q, mark: "caller"},
				{method: "Stmt.QueryContext", query: q, args: named, mark: "next"},
			},
		},
		{
			name: "stmt Query (legacy)", legacy: true,
			run: func(_ context.Context, c driver.Conn) error {
				return withStmt(c, func(s driver.Stmt) error {
					_, err := s.Query(vals) //nolint:staticcheck // testing the legacy path
					return err
				})
			},
			wantEvent:  event{kind: "Query", query: q, args: named},
			wantParent: []parentCall{prepared, {method: "Stmt.Query", query: q, args: vals}},
		},
		{
			name: "BeginTx",
			run: func(ctx context.Context, c driver.Conn) error {
				_, err := c.(driver.ConnBeginTx).BeginTx(ctx, driver.TxOptions{ReadOnly: true})
				return err
			},
			wantEvent:  event{kind: "Begin", mark: "caller", opts: driver.TxOptions{ReadOnly: true}},
			wantParent: []parentCall{{method: "BeginTx", mark: "next", opts: driver.TxOptions{ReadOnly: true}}},
		},
		{
			name: "Begin (legacy)", legacy: true,
			run: func(_ context.Context, c driver.Conn) error {
				_, err := c.Begin() //nolint:staticcheck // testing the legacy path
				return err
			},
			wantEvent:  event{kind: "Begin"},
			wantParent: []parentCall{{method: "Begin"}},
		},
	}
}

// withStmt prepares q on c, runs f on the statement and closes it.
func withStmt(c driver.Conn, f func(driver.Stmt) error) error {
	s, err := c.Prepare(q)
	if err != nil {
		return err
	}
	return f(s)
}

func TestRouting(t *testing.T) {
	for _, tt := range routingCases() {
		for _, parentErr := range []error{nil, errBoom} {
			t.Run(tt.name+"/parent error "+errString(parentErr), func(t *testing.T) {
				f := &fakeConn{err: parentErr}
				var parent driver.Conn = f
				if tt.legacy {
					parent = legacyConn{f}
				}
				rec := &recorder{}
				wrapped, _ := WrapConn(parent, rec)
				ctx := context.WithValue(t.Context(), ctxKey("mark"), "caller")

				if err := tt.run(ctx, wrapped); err != parentErr || !errors.Is(err, parentErr) {
					t.Errorf("error: got %v, want the parent's %v", err, parentErr)
				}
				if got := rec.recorded(); !reflect.DeepEqual(got, []event{tt.wantEvent}) {
					t.Errorf("interceptor calls:\ngot  %+v\nwant %+v", got, []event{tt.wantEvent})
				}
				if got := f.recorded(); !reflect.DeepEqual(got, tt.wantParent) {
					t.Errorf("parent calls:\ngot  %+v\nwant %+v", got, tt.wantParent)
				}
			})
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestErrSkipPassesThrough checks that a parent's driver.ErrSkip comes back
// as the same value from the conn-level Exec and Query.
func TestErrSkipPassesThrough(t *testing.T) {
	wrapped, _ := WrapConn(&fakeConn{err: driver.ErrSkip}, &recorder{})
	_, err := wrapped.(driver.ExecerContext).ExecContext(t.Context(), q, nil)
	if err != driver.ErrSkip {
		t.Errorf("ExecContext error: got %v, want driver.ErrSkip", err)
	}
	_, err = wrapped.(driver.QueryerContext).QueryContext(t.Context(), q, nil)
	if err != driver.ErrSkip {
		t.Errorf("QueryContext error: got %v, want driver.ErrSkip", err)
	}
}

// TestForwarders checks the methods that bypass the interceptor: they reach
// the parent and return its error value unchanged.
func TestForwarders(t *testing.T) {
	f := &fakeConn{err: errBoom}
	wrapped, _ := WrapConn(f, &recorder{})
	s, err := wrapped.Prepare(q)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		run     func() error
		want    error
		wantLog string
	}{
		{"Ping", func() error { return wrapped.(driver.Pinger).Ping(t.Context()) }, errBoom, "Ping"},
		{"ResetSession", func() error { return wrapped.(driver.SessionResetter).ResetSession(t.Context()) }, errBoom, "ResetSession"},
		{"CheckNamedValue", func() error { return wrapped.(driver.NamedValueChecker).CheckNamedValue(&driver.NamedValue{}) }, errBoom, "CheckNamedValue"},
		{"IsValid", func() error {
			if !wrapped.(driver.Validator).IsValid() {
				return errors.New("IsValid: got false, want the parent's true")
			}
			return nil
		}, nil, "IsValid"},
		{"Stmt.CheckNamedValue", func() error { return s.(driver.NamedValueChecker).CheckNamedValue(&driver.NamedValue{}) }, driver.ErrSkip, ""},
		{"Stmt.ColumnConverter", func() error {
			if got := s.(driver.ColumnConverter).ColumnConverter(0); got != driver.DefaultParameterConverter {
				return errors.New("ColumnConverter: got another converter than the parent's")
			}
			return nil
		}, nil, ""},
		{"Stmt.NumInput", func() error {
			if got := s.NumInput(); got != -1 {
				return errors.New("NumInput: want the parent's -1")
			}
			return nil
		}, nil, ""},
		{"Stmt.Close", s.Close, nil, "Stmt.Close"},
		{"Close", wrapped.Close, errBoom, "Close"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.recorded())
			if err := tt.run(); err != tt.want {
				t.Errorf("error: got %v, want %v", err, tt.want)
			}
			if tt.wantLog == "" {
				return
			}
			calls := f.recorded()
			if len(calls) != before+1 || calls[before].method != tt.wantLog {
				t.Errorf("parent calls after: got %+v, want one %s", calls[before:], tt.wantLog)
			}
		})
	}
}

// nextTwice calls next twice and keeps it to call it again after returning.
type nextTwice struct {
	passThrough
	second error
	late   QueryFunc
}

func (n *nextTwice) Query(ctx context.Context, _ *Conn, _ string, _ []driver.NamedValue, next QueryFunc) (driver.Rows, error) {
	rows, err := next(ctx)
	_, n.second = next(ctx)
	n.late = next
	return rows, err
}

func TestNextAtMostOnce(t *testing.T) {
	f := &fakeConn{}
	ic := &nextTwice{}
	wrapped, _ := WrapConn(f, ic)
	if _, err := wrapped.(driver.QueryerContext).QueryContext(t.Context(), q, nil); err != nil {
		t.Fatalf("first next: %v", err)
	}
	if ic.second != errNextReused {
		t.Errorf("second next: got %v, want %v", ic.second, errNextReused)
	}
	if _, err := ic.late(t.Context()); err != errNextReused {
		t.Errorf("next after return: got %v, want %v", err, errNextReused)
	}
	if got := len(f.recorded()); got != 1 {
		t.Errorf("parent calls: got %d, want 1", got)
	}
}

// reentrant runs an exec on the same wrapped conn before calling next, as an
// interceptor that writes something on a query might.
type reentrant struct {
	passThrough
	conn driver.Conn
}

func (r *reentrant) Query(ctx context.Context, _ *Conn, _ string, _ []driver.NamedValue, next QueryFunc) (driver.Rows, error) {
	if _, err := r.conn.(driver.ExecerContext).ExecContext(ctx, "UPDATE t SET a = 1", nil); err != nil {
		return nil, err
	}
	return next(ctx)
}

func TestReentrantInterceptor(t *testing.T) {
	f := &fakeConn{}
	ic := &reentrant{}
	wrapped, _ := WrapConn(f, ic)
	ic.conn = wrapped
	if _, err := wrapped.(driver.QueryerContext).QueryContext(t.Context(), q, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.recorded() {
		got = append(got, c.method+" "+c.query)
	}
	want := []string{"ExecContext UPDATE t SET a = 1", "QueryContext " + q}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parent calls: got %q, want %q", got, want)
	}
}
