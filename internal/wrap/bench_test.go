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
