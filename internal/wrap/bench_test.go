package wrap

import (
	"context"
	"database/sql/driver"
	"testing"
)

// staticConn is a parent whose QueryContext allocates nothing, so that a
// benchmark measures only the wrapper.
type staticConn struct {
	driver.Conn
	rows driver.Rows
}

func (s staticConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return s.rows, nil
}

var sinkRows driver.Rows

func BenchmarkQueryContext(b *testing.B) {
	parent := staticConn{Conn: &fakeConn{}, rows: &fakeRows{}}
	wrapped, _ := WrapConn(parent, passThrough{})
	args := []driver.NamedValue{{Ordinal: 1, Value: int64(7)}}
	for _, bb := range []struct {
		name string
		conn driver.QueryerContext
	}{
		{"bare", parent},
		{"wrapped", wrapped.(driver.QueryerContext)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				rows, err := bb.conn.QueryContext(ctx, q, args)
				if err != nil {
					b.Fatal(err)
				}
				sinkRows = rows
			}
		})
	}
}

// TestPassThroughAllocs guards what the benchmark shows: a pass-through
// interceptor adds no allocation to a query.
func TestPassThroughAllocs(t *testing.T) {
	wrapped, _ := WrapConn(staticConn{Conn: &fakeConn{}, rows: &fakeRows{}}, passThrough{})
	args := []driver.NamedValue{{Ordinal: 1, Value: int64(7)}}
	ctx := context.Background()
	got := testing.AllocsPerRun(100, func() {
		rows, err := wrapped.(driver.QueryerContext).QueryContext(ctx, q, args)
		if err != nil {
			t.Fatal(err)
		}
		sinkRows = rows
	})
	if got != 0 {
		t.Errorf("allocations per wrapped QueryContext: got %v, want 0", got)
	}
}

// checkConn is a staticConn whose CheckNamedValue accepts every value.
type checkConn struct{ staticConn }

func (checkConn) CheckNamedValue(*driver.NamedValue) error { return nil }

var (
	sinkConn driver.Conn
	sinkErr  error
)

// BenchmarkWrapConn measures what wrapping costs per new connection.
func BenchmarkWrapConn(b *testing.B) {
	parent := &fakeConn{}
	b.ReportAllocs()
	for b.Loop() {
		sinkConn, _ = WrapConn(parent, passThrough{})
	}
}

// BenchmarkCheckNamedValue measures the conn's CheckNamedValue, which
// database/sql calls once per argument of every statement.
func BenchmarkCheckNamedValue(b *testing.B) {
	parent := checkConn{staticConn{Conn: &fakeConn{}, rows: &fakeRows{}}}
	wrapped, _ := WrapConn(parent, passThrough{})
	for _, bb := range []struct {
		name string
		conn driver.NamedValueChecker
	}{
		{"bare", parent},
		{"wrapped", wrapped.(driver.NamedValueChecker)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			nv := driver.NamedValue{Ordinal: 1, Value: int64(7)}
			b.ReportAllocs()
			for b.Loop() {
				sinkErr = bb.conn.CheckNamedValue(&nv)
			}
		})
	}
}

// BenchmarkRows measures wrapping a parent's rows as the caching layer does
// on every query that reaches the database, then reading the column types
// as database/sql's ColumnTypes does.
func BenchmarkRows(b *testing.B) {
	parent := &fakeRows{}
	b.ReportAllocs()
	for b.Loop() {
		r := WrapRows(ParentRows(parent), RowsMaskOf(parent))
		sinkRows = r
		_ = r.(driver.RowsColumnTypeScanType).ColumnTypeScanType(0)
		_ = r.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(0)
		_, _ = r.(driver.RowsColumnTypeLength).ColumnTypeLength(0)
		_, _ = r.(driver.RowsColumnTypeNullable).ColumnTypeNullable(0)
		_, _, _ = r.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(0)
	}
}
