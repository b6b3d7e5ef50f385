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

// RowsMaskOf returns the optional interfaces r implements.
func RowsMaskOf(r driver.Rows) RowsMask { return RowsMask(maskOf(r, rowsChecks[:])) }

// RowsCore has every method a driver.Rows may have. [WrapRows] exposes only
// some of them.
type RowsCore interface {
	driver.Rows
	driver.RowsNextResultSet
	driver.RowsColumnTypeScanType
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
}

// WrapRows returns rows whose dynamic type implements exactly driver.Rows
// plus the optional interfaces in mask, each calling core. The result is as
// safe for concurrent use as core is.
func WrapRows(core RowsCore, mask RowsMask) driver.Rows {
	if core == nil {
		panic("wrap: WrapRows with a nil core")
	}
	return rowsTable[mask&rowsAll](core)
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

// rowsBase holds the methods every wrapped rows has.
type rowsBase struct{ r RowsCore }

var _ driver.Rows = rowsBase{}

// Columns forwards to the core.
func (b rowsBase) Columns() []string { return b.r.Columns() }

// Close forwards to the core.
func (b rowsBase) Close() error { return b.r.Close() }

// Next forwards to the core.
func (b rowsBase) Next(dest []driver.Value) error { return b.r.Next(dest) }

// The mixins: one per optional rows interface, in mask bit order.

type (
	rowsNextResultSet    struct{ r RowsCore }
	rowsScanType         struct{ r RowsCore }
	rowsDatabaseTypeName struct{ r RowsCore }
	rowsLength           struct{ r RowsCore }
	rowsNullable         struct{ r RowsCore }
	rowsPrecisionScale   struct{ r RowsCore }
)

// Each single-bit generated type must implement its interface: this checks
// the mixins and the generator's bit order at once.
var (
	_ driver.RowsNextResultSet              = (*rows01)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows02)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows04)(nil)
	_ driver.RowsColumnTypeLength           = (*rows08)(nil)
	_ driver.RowsColumnTypeNullable         = (*rows16)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows32)(nil)
)

// HasNextResultSet forwards to the core.
func (m rowsNextResultSet) HasNextResultSet() bool { return m.r.HasNextResultSet() }

// NextResultSet forwards to the core.
func (m rowsNextResultSet) NextResultSet() error { return m.r.NextResultSet() }

// ColumnTypeScanType forwards to the core.
func (m rowsScanType) ColumnTypeScanType(i int) reflect.Type { return m.r.ColumnTypeScanType(i) }

// ColumnTypeDatabaseTypeName forwards to the core.
func (m rowsDatabaseTypeName) ColumnTypeDatabaseTypeName(i int) string {
	return m.r.ColumnTypeDatabaseTypeName(i)
}

// ColumnTypeLength forwards to the core.
func (m rowsLength) ColumnTypeLength(i int) (int64, bool) { return m.r.ColumnTypeLength(i) }

// ColumnTypeNullable forwards to the core.
func (m rowsNullable) ColumnTypeNullable(i int) (nullable, ok bool) {
	return m.r.ColumnTypeNullable(i)
}

// ColumnTypePrecisionScale forwards to the core.
func (m rowsPrecisionScale) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	return m.r.ColumnTypePrecisionScale(i)
}
