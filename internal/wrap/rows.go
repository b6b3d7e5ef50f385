package wrap

import (
	"database/sql/driver"
	"io"
	"reflect"
)

// RowsMask is a set of optional driver.Rows interfaces.
type RowsMask uint8

// The optional driver.Rows interfaces, one bit each.
const (
	RowsNextResultSet    RowsMask = 1 << iota // driver.RowsNextResultSet
	RowsScanType                              // driver.RowsColumnTypeScanType
	RowsDatabaseTypeName                      // driver.RowsColumnTypeDatabaseTypeName
	RowsLength                                // driver.RowsColumnTypeLength
	RowsNullable                              // driver.RowsColumnTypeNullable
	RowsPrecisionScale                        // driver.RowsColumnTypePrecisionScale

	rowsAll = 1<<iota - 1
)

// rowsChecks tests for the optional rows interfaces, in RowsMask bit order.
var rowsChecks = [...]func(any) bool{
	has[driver.RowsNextResultSet],
	has[driver.RowsColumnTypeScanType],
	has[driver.RowsColumnTypeDatabaseTypeName],
	has[driver.RowsColumnTypeLength],
	has[driver.RowsColumnTypeNullable],
	has[driver.RowsColumnTypePrecisionScale],
}

// RowsMaskOf returns the optional interfaces r implements. For rows returned
// by [WrapRows] it returns their mask: the interfaces they answer for rather
// than neutrally.
func RowsMaskOf(r driver.Rows) RowsMask {
	if w, ok := r.(*rows); ok {
		return w.mask
	}
	return RowsMask(maskOf(r, rowsChecks[:]))
}

// RowsCore has every method a driver.Rows may have. [WrapRows] asks it only
// for the interfaces in its mask.
type RowsCore interface {
	driver.Rows
	driver.RowsNextResultSet
	driver.RowsColumnTypeScanType
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
}

// WrapRows returns rows that implement every optional rows interface (all of
// them are neutral: see the package doc). Those in mask call core; the others
// give the answers database/sql assumes for a driver without them, as
// [ParentRows] does, whatever core would say. The result is as safe for
// concurrent use as core is.
func WrapRows(core RowsCore, mask RowsMask) driver.Rows {
	if core == nil {
		panic("wrap: WrapRows with a nil core")
	}
	return &rows{r: core, mask: mask & rowsAll}
}

// ParentRows adapts r to RowsCore. Optional methods call r's when it has them
// and otherwise give the answers database/sql assumes for a driver without
// them: no next result set (io.EOF), scan type any, empty database type name,
// and ok false for length, nullable and precision/scale. A recording rows on
// the miss path embeds it; pass RowsMaskOf(r) to [WrapRows] to keep r's set.
// An r that already implements RowsCore is returned as is.
func ParentRows(r driver.Rows) RowsCore {
	if c, ok := r.(RowsCore); ok {
		return c
	}
	return parentRows{r}
}

type parentRows struct{ driver.Rows }

func (p parentRows) HasNextResultSet() bool {
	if r, ok := p.Rows.(driver.RowsNextResultSet); ok {
		return r.HasNextResultSet()
	}
	return false
}

func (p parentRows) NextResultSet() error {
	if r, ok := p.Rows.(driver.RowsNextResultSet); ok {
		return r.NextResultSet()
	}
	return io.EOF
}

func (p parentRows) ColumnTypeScanType(i int) reflect.Type {
	if r, ok := p.Rows.(driver.RowsColumnTypeScanType); ok {
		return r.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (p parentRows) ColumnTypeDatabaseTypeName(i int) string {
	if r, ok := p.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return r.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (p parentRows) ColumnTypeLength(i int) (int64, bool) {
	if r, ok := p.Rows.(driver.RowsColumnTypeLength); ok {
		return r.ColumnTypeLength(i)
	}
	return 0, false
}

func (p parentRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if r, has := p.Rows.(driver.RowsColumnTypeNullable); has {
		return r.ColumnTypeNullable(i)
	}
	return false, false
}

func (p parentRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if r, has := p.Rows.(driver.RowsColumnTypePrecisionScale); has {
		return r.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

// rows is what WrapRows returns: every optional rows interface, each asking
// the core when its bit is in mask and answering as ParentRows does for a
// parent without it otherwise.
type rows struct {
	r    RowsCore
	mask RowsMask
}

var _ RowsCore = (*rows)(nil)

// Columns forwards to the core.
func (w *rows) Columns() []string { return w.r.Columns() }

// Close forwards to the core.
func (w *rows) Close() error { return w.r.Close() }

// Next forwards to the core.
func (w *rows) Next(dest []driver.Value) error { return w.r.Next(dest) }

// HasNextResultSet forwards to the core, or reports false.
func (w *rows) HasNextResultSet() bool {
	return w.mask&RowsNextResultSet != 0 && w.r.HasNextResultSet()
}

// NextResultSet forwards to the core, or returns io.EOF.
func (w *rows) NextResultSet() error {
	if w.mask&RowsNextResultSet == 0 {
		return io.EOF
	}
	return w.r.NextResultSet()
}

// ColumnTypeScanType forwards to the core, or returns the type of any.
func (w *rows) ColumnTypeScanType(i int) reflect.Type {
	if w.mask&RowsScanType == 0 {
		return reflect.TypeFor[any]()
	}
	return w.r.ColumnTypeScanType(i)
}

// ColumnTypeDatabaseTypeName forwards to the core, or returns "".
func (w *rows) ColumnTypeDatabaseTypeName(i int) string {
	if w.mask&RowsDatabaseTypeName == 0 {
		return ""
	}
	return w.r.ColumnTypeDatabaseTypeName(i)
}

// ColumnTypeLength forwards to the core, or reports ok false.
func (w *rows) ColumnTypeLength(i int) (int64, bool) {
	if w.mask&RowsLength == 0 {
		return 0, false
	}
	return w.r.ColumnTypeLength(i)
}

// ColumnTypeNullable forwards to the core, or reports ok false.
func (w *rows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if w.mask&RowsNullable == 0 {
		return false, false
	}
	return w.r.ColumnTypeNullable(i)
}

// ColumnTypePrecisionScale forwards to the core, or reports ok false.
func (w *rows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if w.mask&RowsPrecisionScale == 0 {
		return 0, 0, false
	}
	return w.r.ColumnTypePrecisionScale(i)
}
