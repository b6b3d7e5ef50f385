package cachedsql

import (
	"database/sql/driver"

	"github.com/cachedsql/cachedsql/internal/wrap"
)

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
