package cachedsql

import (
	"context"
	"database/sql/driver"
	"io"
	"reflect"
	"time"

	"github.com/cachedsql/cachedsql/internal/codec"
	"github.com/cachedsql/cachedsql/internal/wrap"
)

// cachedRows serves a decoded entry. It reports the column metadata the parent's rows reported, and
// its dynamic type has the parent's optional rows interfaces (the mask stored in the entry).
type cachedRows struct {
	ent  *codec.Entry
	cols []string
	i    int
	// names holds the column names of a narrow result, so that the rows take one allocation.
	names [8]string
}

var _ wrap.RowsCore = (*cachedRows)(nil)

func newCachedRows(ent *codec.Entry) *cachedRows {
	r := &cachedRows{ent: ent}
	if len(ent.Columns) <= len(r.names) {
		r.cols = r.names[:len(ent.Columns)]
	} else {
		r.cols = make([]string, len(ent.Columns))
	}
	for i, c := range ent.Columns {
		r.cols[i] = c.Name
	}
	return r
}

func (r *cachedRows) Columns() []string { return r.cols }
func (r *cachedRows) Close() error      { r.i = len(r.ent.Rows); return nil }

func (r *cachedRows) Next(dest []driver.Value) error {
	if r.i >= len(r.ent.Rows) {
		return io.EOF
	}
	// The decoded entry belongs to these rows alone, so its values can be handed out without copying;
	// database/sql copies []byte values when it scans them.
	copy(dest, r.ent.Rows[r.i])
	r.i++
	return nil
}

func (r *cachedRows) HasNextResultSet() bool { return false }
func (r *cachedRows) NextResultSet() error   { return io.EOF }

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t := r.ent.Columns[i].ScanType; t != nil {
		return t
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string { return r.ent.Columns[i].DatabaseType }

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	c := &r.ent.Columns[i]
	return c.Length, c.HasLength
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	c := &r.ent.Columns[i]
	return c.Nullable, c.HasNullable
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	c := &r.ent.Columns[i]
	return c.Precision, c.Scale, c.HasPrecisionScale
}

// recorder passes a miss's rows through to the caller and records them. When they are complete and
// closed, it fills the cache. A result the caller stopped reading early is drained on Close (bounded
// by the rule's row cap), so a QueryRow is cached too; a partial result is never stored.
type recorder struct {
	wrap.RowsCore
	e     *engine
	p     *plan
	ctx   context.Context // the query's context, for the observer and logger only
	key   string
	mask  wrap.RowsMask
	ent   codec.Entry
	start time.Time
	ttl   time.Duration
	// size approximates the recorded bytes, to give up early on a result over the byte cap.
	size int
	// done: io.EOF was reached. failed: the result cannot or must not be stored.
	done, failed bool
	// why says why failed was set, for the observer.
	why string
}

func newRecorder(ctx context.Context, e *engine, p *plan, key string, tokens []uint64, rows driver.Rows, start time.Time, ttl time.Duration) driver.Rows {
	r := &recorder{
		RowsCore: wrap.ParentRows(rows),
		e:        e, p: p, ctx: ctx, key: key,
		mask:  wrap.RowsMaskOf(rows),
		start: start, ttl: ttl,
	}
	r.ent.Tokens = tokens
	r.ent.Flags = uint32(r.mask)
	r.ent.Columns = r.columns()
	return wrap.WrapRows(r, r.mask)
}

// columns captures the column metadata that the parent's rows offer.
func (r *recorder) columns() []codec.Column {
	names := r.RowsCore.Columns()
	cols := make([]codec.Column, len(names))
	for i, n := range names {
		c := &cols[i]
		c.Name = n
		if r.mask&wrap.RowsScanType != 0 {
			c.ScanType = r.ColumnTypeScanType(i)
		}
		if r.mask&wrap.RowsDatabaseTypeName != 0 {
			c.DatabaseType = r.ColumnTypeDatabaseTypeName(i)
		}
		if r.mask&wrap.RowsLength != 0 {
			c.Length, c.HasLength = r.ColumnTypeLength(i)
		}
		if r.mask&wrap.RowsNullable != 0 {
			c.Nullable, c.HasNullable = r.ColumnTypeNullable(i)
		}
		if r.mask&wrap.RowsPrecisionScale != 0 {
			c.Precision, c.Scale, c.HasPrecisionScale = r.ColumnTypePrecisionScale(i)
		}
	}
	return cols
}

func (r *recorder) Next(dest []driver.Value) error {
	err := r.RowsCore.Next(dest)
	if r.failed || r.done {
		return err
	}
	switch {
	case err == io.EOF:
		r.done = true
		r.ent.Delta = r.e.now().Sub(r.start)
	case err != nil:
		r.fail("query error")
	default:
		r.capture(dest)
	}
	return err
}

// capture copies one row: the parent may reuse its buffers once Next is called again.
func (r *recorder) capture(dest []driver.Value) {
	if max := r.p.rule.MaxRows; max > 0 && len(r.ent.Rows) >= max {
		r.fail("result over max_rows")
		return
	}
	row := make([]driver.Value, len(dest))
	for i, v := range dest {
		switch v := v.(type) {
		case []byte:
			if v != nil {
				v = append(make([]byte, 0, len(v)), v...)
			}
			row[i] = v
			r.size += len(v)
		case string:
			row[i] = v
			r.size += len(v)
		default:
			row[i] = v
			r.size += 8
		}
	}
	if max := r.p.rule.MaxBytes; max > 0 && r.size > max {
		r.fail("result over max_bytes")
		return
	}
	r.ent.Rows = append(r.ent.Rows, row)
}

func (r *recorder) fail(why string) {
	r.failed, r.why = true, why
	r.ent.Rows = nil
}

// HasNextResultSet and NextResultSet: only single result sets are cached.
func (r *recorder) HasNextResultSet() bool {
	more := r.RowsCore.HasNextResultSet()
	if more && !r.failed {
		r.fail("several result sets")
	}
	return more
}

func (r *recorder) NextResultSet() error {
	if !r.failed {
		r.fail("several result sets")
	}
	return r.RowsCore.NextResultSet()
}

func (r *recorder) Close() error {
	if !r.done && !r.failed {
		r.drain()
	}
	if r.done && !r.failed && r.mask&wrap.RowsNextResultSet != 0 {
		r.HasNextResultSet() // fails the fill when another result set follows
	}
	err := r.RowsCore.Close()
	if err != nil && !r.failed {
		r.fail("close error")
	}
	switch {
	case r.failed:
		r.e.skipFill(r.ctx, r.p, r.why)
	case r.done:
		r.ent.Created = r.e.now()
		r.ent.Expires = r.ent.Created.Add(r.ttl)
		r.e.fill(r.ctx, r.p, r.key, &r.ent, r.ttl)
	}
	return err
}

// drain reads the rows the caller left unread, so that the result can be stored whole.
func (r *recorder) drain() {
	dest := make([]driver.Value, len(r.ent.Columns))
	for !r.done && !r.failed {
		_ = r.Next(dest)
	}
}

// afterCloseRows runs fn once when the rows are closed: a write that arrives through Query is complete
// only when its rows are.
type afterCloseRows struct {
	wrap.RowsCore
	fn func()
}

func wrapAfterClose(rows driver.Rows, fn func()) driver.Rows {
	return wrap.WrapRows(&afterCloseRows{RowsCore: wrap.ParentRows(rows), fn: fn}, wrap.RowsMaskOf(rows))
}

func (r *afterCloseRows) Close() error {
	err := r.RowsCore.Close()
	if r.fn != nil {
		r.fn()
		r.fn = nil
	}
	return err
}
