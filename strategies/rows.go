package strategies

import (
	"database/sql/driver"
	"io"
	"reflect"

	"github.com/cachedsql/cachedsql/internal/codec"
	"github.com/cachedsql/cachedsql/internal/wrap"
)

// cachedRows serves a decoded entry. It is served as it is, not through wrap.WrapRows: it has every
// optional rows interface, and for one its parent lacked (not in the entry's mask) the recorder stored
// nothing, so it gives the answer database/sql assumes for a driver without it (scan type any, no
// database type name, ok false for length, nullable and precision/scale, no next result set), as the
// wrapper would. That saves an allocation on every hit.
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

// recorder reads a miss's rows in full, up to the rule's caps, and records them with the column
// metadata the parent's rows offer. The result is then stored and shared (see load) or, over a cap,
// replayed to the caller that ran the query, followed by the parent's remaining rows.
type recorder struct {
	parent wrap.RowsCore
	mask   wrap.RowsMask
	p      *Policy
	ent    codec.Entry
	// size approximates the recorded bytes, to stop recording a result over the byte cap early.
	size int
	// done: io.EOF was reached. failed: the result must not be stored or shared; why says why.
	done, failed bool
	why          string
}

func newRecorder(p *Policy, tokens []uint64, rows driver.Rows) *recorder {
	r := &recorder{parent: wrap.ParentRows(rows), mask: wrap.RowsMaskOf(rows), p: p}
	r.ent.Tokens = tokens
	r.ent.Flags = uint32(r.mask)
	r.ent.Columns = r.columns()
	return r
}

// columns captures the column metadata that the parent's rows offer.
func (r *recorder) columns() []codec.Column {
	names := r.parent.Columns()
	cols := make([]codec.Column, len(names))
	for i, n := range names {
		c := &cols[i]
		c.Name = n
		if r.mask&wrap.RowsScanType != 0 {
			c.ScanType = r.parent.ColumnTypeScanType(i)
		}
		if r.mask&wrap.RowsDatabaseTypeName != 0 {
			c.DatabaseType = r.parent.ColumnTypeDatabaseTypeName(i)
		}
		if r.mask&wrap.RowsLength != 0 {
			c.Length, c.HasLength = r.parent.ColumnTypeLength(i)
		}
		if r.mask&wrap.RowsNullable != 0 {
			c.Nullable, c.HasNullable = r.parent.ColumnTypeNullable(i)
		}
		if r.mask&wrap.RowsPrecisionScale != 0 {
			c.Precision, c.Scale, c.HasPrecisionScale = r.parent.ColumnTypePrecisionScale(i)
		}
	}
	return cols
}

// read records rows until the end of the result, a cap, or an error, which it returns.
func (r *recorder) read() error {
	dest := make([]driver.Value, len(r.ent.Columns))
	for !r.failed {
		switch err := r.parent.Next(dest); {
		case err == io.EOF:
			r.done = true
			if r.mask&wrap.RowsNextResultSet != 0 && r.parent.HasNextResultSet() {
				r.fail("several result sets")
			}
			return nil
		case err != nil:
			return err
		}
		r.capture(dest)
	}
	return nil
}

// capture copies one row (the parent may reuse its buffers) and checks the caps. A row over a cap is
// still kept: the caller that ran the query gets every row read.
func (r *recorder) capture(dest []driver.Value) {
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
	r.ent.Rows = append(r.ent.Rows, row)
	switch {
	case r.p.MaxRows > 0 && len(r.ent.Rows) > r.p.MaxRows:
		r.fail("result over max_rows")
	case r.p.MaxBytes > 0 && r.size > r.p.MaxBytes:
		r.fail("result over max_bytes")
	}
}

func (r *recorder) fail(why string) { r.failed, r.why = true, why }

// replayRows serves the rows a recorder read, then the parent's remaining rows, or the error that
// ended the parent's rows where it happened.
type replayRows struct {
	wrap.RowsCore
	rows [][]driver.Value
	i    int
	err  error
	// stop ends the query's context once the rows are closed.
	stop func()
}

func newReplay(r *recorder, err error, stop func()) driver.Rows {
	return wrap.WrapRows(&replayRows{RowsCore: r.parent, rows: r.ent.Rows, err: err, stop: stop}, r.mask)
}

func (r *replayRows) Next(dest []driver.Value) error {
	if r.i < len(r.rows) {
		copy(dest, r.rows[r.i])
		r.i++
		return nil
	}
	if r.err != nil {
		return r.err
	}
	return r.RowsCore.Next(dest)
}

func (r *replayRows) Close() error {
	err := r.RowsCore.Close()
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	return err
}
