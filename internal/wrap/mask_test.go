package wrap

import (
	"database/sql/driver"
	"fmt"
	"io"
	"slices"
	"testing"
)

// iface is an optional driver interface and its type-assertion check, written
// here independently of the generator's lists.
type iface struct {
	name string
	is   func(any) bool
}

func check[T any](name string) iface {
	return iface{name, func(v any) bool { _, ok := v.(T); return ok }}
}

// The optional interfaces of each family: the composed ones in mask bit
// order, then the neutral ones, which every wrapper has.
var (
	connIfaces = []iface{
		check[driver.ConnBeginTx]("ConnBeginTx"),
		check[driver.ExecerContext]("ExecerContext"),
		check[driver.Execer]("Execer"),
		check[driver.QueryerContext]("QueryerContext"),
		check[driver.Queryer]("Queryer"),
		check[driver.SessionResetter]("SessionResetter"),
		check[driver.Validator]("Validator"),
	}
	connNeutral = []iface{
		check[driver.ConnPrepareContext]("ConnPrepareContext"),
		check[driver.Pinger]("Pinger"),
		check[driver.NamedValueChecker]("NamedValueChecker"),
	}
	stmtIfaces = []iface{
		check[driver.StmtExecContext]("StmtExecContext"),
		check[driver.StmtQueryContext]("StmtQueryContext"),
		check[driver.ColumnConverter]("ColumnConverter"),
	}
	stmtNeutral = []iface{
		check[driver.NamedValueChecker]("NamedValueChecker"),
	}
	// rowsIfaces are all neutral; RowsMask still names them, in this order.
	rowsIfaces = []iface{
		check[driver.RowsNextResultSet]("RowsNextResultSet"),
		check[driver.RowsColumnTypeScanType]("RowsColumnTypeScanType"),
		check[driver.RowsColumnTypeDatabaseTypeName]("RowsColumnTypeDatabaseTypeName"),
		check[driver.RowsColumnTypeLength]("RowsColumnTypeLength"),
		check[driver.RowsColumnTypeNullable]("RowsColumnTypeNullable"),
		check[driver.RowsColumnTypePrecisionScale]("RowsColumnTypePrecisionScale"),
	}
)

// exposed returns the names a wrapper of v must implement: those of composed
// that v implements, and all of neutral.
func exposed(v any, composed, neutral []iface) []string {
	return append(implemented(v, composed), named(1<<len(neutral)-1, neutral)...)
}

// allOf returns the composed and the neutral interfaces of a family.
func allOf(composed, neutral []iface) []iface {
	return append(append([]iface(nil), composed...), neutral...)
}

// implemented returns the names of the interfaces in list that v implements.
func implemented(v any, list []iface) []string {
	var names []string
	for _, i := range list {
		if i.is(v) {
			names = append(names, i.name)
		}
	}
	return names
}

// named returns the names of the interfaces whose bit is set in mask.
func named(mask uint, list []iface) []string {
	var names []string
	for bit, i := range list {
		if mask&(1<<bit) != 0 {
			names = append(names, i.name)
		}
	}
	return names
}

// sameSet reports an error naming what got lacks and has in excess of want.
func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("%s: missing %v, extra %v (got %v, want %v)", what, missing, extra, got, want)
	}
}

// restrictedConn returns a conn implementing exactly the composed conn
// interfaces in mask, and the neutral ones: a generated combination over a
// core whose parent is a full fake.
func restrictedConn(mask uint, f *fakeConn) driver.Conn {
	return connTable[mask](newCore(f, passThrough{}))
}

func TestConnMasks(t *testing.T) {
	all := allOf(connIfaces, connNeutral)
	for mask := range uint(len(connTable)) {
		t.Run(fmt.Sprintf("%03d", mask), func(t *testing.T) {
			parent := restrictedConn(mask, &fakeConn{})
			want := append(named(mask, connIfaces), named(1<<len(connNeutral)-1, connNeutral)...)
			sameSet(t, "test parent", implemented(parent, all), want)

			wrapped, core := WrapConn(parent, passThrough{})
			sameSet(t, "wrapped conn", implemented(wrapped, all), want)
			u, ok := wrapped.(interface{ Unwrap() driver.Conn })
			if !ok || u.Unwrap() != parent {
				t.Errorf("Unwrap() of wrapped conn: want the parent (has method: %v)", ok)
			}
			c, ok := wrapped.(interface{ Core() *Conn })
			if !ok || c.Core() != core || core.Parent() != parent {
				t.Errorf("Core() of wrapped conn: want the *Conn WrapConn returned, with Parent() the parent")
			}
		})
	}
}

// TestConnWithoutNeutral checks that a parent lacking the neutral interfaces
// still gets them, and exactly its composed ones.
func TestConnWithoutNeutral(t *testing.T) {
	parent := legacyConn{&fakeConn{}}
	sameSet(t, "test parent", implemented(parent, connNeutral), nil)
	wrapped, _ := WrapConn(parent, passThrough{})
	all := allOf(connIfaces, connNeutral)
	sameSet(t, "wrapped conn", implemented(wrapped, all), exposed(parent, connIfaces, connNeutral))
}

func TestStmtMasks(t *testing.T) {
	all := allOf(stmtIfaces, stmtNeutral)
	for mask := range uint(len(stmtTable)) {
		t.Run(fmt.Sprint(mask), func(t *testing.T) {
			parent := stmtTable[mask](&stmt{c: newCore(&fakeConn{}, passThrough{}), parent: &fakeStmt{}})
			want := append(named(mask, stmtIfaces), named(1<<len(stmtNeutral)-1, stmtNeutral)...)
			sameSet(t, "test parent", implemented(parent, all), want)

			wrapped := wrapStmt(newCore(&fakeConn{}, passThrough{}), parent, "SELECT 1")
			sameSet(t, "wrapped stmt", implemented(wrapped, all), want)
		})
	}
	parent := legacyStmt{&fakeStmt{}}
	wrapped := wrapStmt(newCore(&fakeConn{}, passThrough{}), parent, "SELECT 1")
	sameSet(t, "wrapped legacy stmt", implemented(wrapped, all), exposed(parent, stmtIfaces, stmtNeutral))
}

// TestPreparedStmtMasks checks that Prepare and PrepareContext wrap what the
// parent prepares, keeping its method set.
func TestPreparedStmtMasks(t *testing.T) {
	full := named(1<<len(stmtIfaces)-1, stmtIfaces)
	neutral := named(1<<len(stmtNeutral)-1, stmtNeutral)
	tests := []struct {
		name   string
		parent driver.Conn
		want   []string
	}{
		{"full", &fakeConn{}, append(full, neutral...)},
		{"legacy", legacyConn{&fakeConn{}}, neutral},
	}
	all := allOf(stmtIfaces, stmtNeutral)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrapped, _ := WrapConn(tt.parent, passThrough{})
			s, err := wrapped.Prepare("SELECT 1")
			if err != nil {
				t.Fatal(err)
			}
			sameSet(t, "Prepare", implemented(s, all), tt.want)
			s, err = wrapped.(driver.ConnPrepareContext).PrepareContext(t.Context(), "SELECT 1")
			if err != nil {
				t.Fatal(err)
			}
			sameSet(t, "PrepareContext", implemented(s, all), tt.want)
		})
	}
}

// TestRowsMasks checks that rows from WrapRows have every rows interface and
// keep their mask through RowsMaskOf and ParentRows.
func TestRowsMasks(t *testing.T) {
	for mask := range RowsMask(rowsAll + 1) {
		t.Run(fmt.Sprintf("%06b", mask), func(t *testing.T) {
			wrapped := WrapRows(&fakeRows{}, mask)
			sameSet(t, "WrapRows", implemented(wrapped, rowsIfaces), named(rowsAll, rowsIfaces))
			if got := RowsMaskOf(wrapped); got != mask {
				t.Errorf("RowsMaskOf = %06b, want %06b", got, mask)
			}
			if got := RowsMaskOf(WrapRows(ParentRows(wrapped), RowsMaskOf(wrapped))); got != mask {
				t.Errorf("RowsMaskOf after rewrapping = %06b, want %06b", got, mask)
			}
		})
	}
	if got := RowsMaskOf(&fakeRows{}); got != rowsAll {
		t.Errorf("RowsMaskOf(full rows) = %06b, want %06b", got, RowsMask(rowsAll))
	}
	if got := RowsMaskOf(bareRows{&fakeRows{}}); got != 0 {
		t.Errorf("RowsMaskOf(bare rows) = %06b, want 0", got)
	}
}

func TestParentRows(t *testing.T) {
	type answers struct {
		hasNext              bool
		nextErr              error
		scanType             string
		dbType               string
		length               int64
		lengthOK             bool
		nullable, nullableOK bool
		precision, scale     int64
		precisionScaleOK     bool
	}
	defaults := answers{nextErr: io.EOF, scanType: "interface {}"}
	parents := answers{
		hasNext: true, scanType: "int64", dbType: "INT8", length: 8, lengthOK: true,
		nullable: true, nullableOK: true, precision: 10, scale: 2, precisionScaleOK: true,
	}
	tests := []struct {
		name string
		rows driver.Rows
		want answers
	}{
		{"parent without: database/sql defaults", bareRows{&fakeRows{}}, defaults},
		{"parent with all: the parent's answers", &fakeRows{}, parents},
		{"WrapRows mask none: defaults, not the core's", WrapRows(&fakeRows{}, 0), defaults},
		{"WrapRows mask all: the core's answers", WrapRows(&fakeRows{}, rowsAll), parents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ParentRows(tt.rows)
			var got answers
			got.hasNext = r.HasNextResultSet()
			got.nextErr = r.NextResultSet()
			got.scanType = r.ColumnTypeScanType(0).String()
			got.dbType = r.ColumnTypeDatabaseTypeName(0)
			got.length, got.lengthOK = r.ColumnTypeLength(0)
			got.nullable, got.nullableOK = r.ColumnTypeNullable(0)
			got.precision, got.scale, got.precisionScaleOK = r.ColumnTypePrecisionScale(0)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			dest := make([]driver.Value, 1)
			if err := r.Next(dest); err != nil || dest[0] != int64(1) || r.Columns()[0] != "a" {
				t.Errorf("Next: got %v, %v, columns %v; want [1], nil, [a]", dest, err, r.Columns())
			}
		})
	}
}
