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

// The optional interfaces of each family, in mask bit order.
var (
	connIfaces = []iface{
		check[driver.ConnBeginTx]("ConnBeginTx"),
		check[driver.ConnPrepareContext]("ConnPrepareContext"),
		check[driver.ExecerContext]("ExecerContext"),
		check[driver.Execer]("Execer"),
		check[driver.QueryerContext]("QueryerContext"),
		check[driver.Queryer]("Queryer"),
		check[driver.Pinger]("Pinger"),
		check[driver.SessionResetter]("SessionResetter"),
		check[driver.Validator]("Validator"),
		check[driver.NamedValueChecker]("NamedValueChecker"),
	}
	stmtIfaces = []iface{
		check[driver.StmtExecContext]("StmtExecContext"),
		check[driver.StmtQueryContext]("StmtQueryContext"),
		check[driver.NamedValueChecker]("NamedValueChecker"),
		check[driver.ColumnConverter]("ColumnConverter"),
	}
	rowsIfaces = []iface{
		check[driver.RowsNextResultSet]("RowsNextResultSet"),
		check[driver.RowsColumnTypeScanType]("RowsColumnTypeScanType"),
		check[driver.RowsColumnTypeDatabaseTypeName]("RowsColumnTypeDatabaseTypeName"),
		check[driver.RowsColumnTypeLength]("RowsColumnTypeLength"),
		check[driver.RowsColumnTypeNullable]("RowsColumnTypeNullable"),
		check[driver.RowsColumnTypePrecisionScale]("RowsColumnTypePrecisionScale"),
	}
)

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

// restrictedConn returns a conn implementing exactly the conn interfaces in
// mask: a generated combination over a core whose parent is a full fake.
func restrictedConn(mask uint, f *fakeConn) driver.Conn {
	return connTable[mask](newCore(f, passThrough{}))
}

func TestConnMasks(t *testing.T) {
	for mask := range uint(len(connTable)) {
		t.Run(fmt.Sprintf("%04d", mask), func(t *testing.T) {
			parent := restrictedConn(mask, &fakeConn{})
			want := named(mask, connIfaces)
			sameSet(t, "test parent", implemented(parent, connIfaces), want)

			wrapped, core := WrapConn(parent, passThrough{})
			sameSet(t, "wrapped conn", implemented(wrapped, connIfaces), want)
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

func TestStmtMasks(t *testing.T) {
	for mask := range uint(len(stmtTable)) {
		t.Run(fmt.Sprintf("%02d", mask), func(t *testing.T) {
			parent := stmtTable[mask](&stmt{c: newCore(&fakeConn{}, passThrough{}), parent: &fakeStmt{}})
			want := named(mask, stmtIfaces)
			sameSet(t, "test parent", implemented(parent, stmtIfaces), want)

			wrapped := wrapStmt(newCore(&fakeConn{}, passThrough{}), parent, "SELECT 1")
			sameSet(t, "wrapped stmt", implemented(wrapped, stmtIfaces), want)
		})
	}
}

// TestPreparedStmtMasks checks that Prepare and PrepareContext wrap what the
// parent prepares, keeping its method set.
func TestPreparedStmtMasks(t *testing.T) {
	full := named(1<<len(stmtIfaces)-1, stmtIfaces)
	tests := []struct {
		name   string
		parent driver.Conn
		want   []string
	}{
		{"full", &fakeConn{}, full},
		{"legacy", legacyConn{&fakeConn{}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrapped, _ := WrapConn(tt.parent, passThrough{})
			s, err := wrapped.Prepare("SELECT 1")
			if err != nil {
				t.Fatal(err)
			}
			sameSet(t, "Prepare", implemented(s, stmtIfaces), tt.want)
			if pc, ok := wrapped.(driver.ConnPrepareContext); ok {
				s, err := pc.PrepareContext(t.Context(), "SELECT 1")
				if err != nil {
					t.Fatal(err)
				}
				sameSet(t, "PrepareContext", implemented(s, stmtIfaces), tt.want)
			}
		})
	}
}

func TestRowsMasks(t *testing.T) {
	for mask := range RowsMask(len(rowsTable)) {
		t.Run(fmt.Sprintf("%02d", mask), func(t *testing.T) {
			parent := WrapRows(&fakeRows{}, mask)
			want := named(uint(mask), rowsIfaces)
			sameSet(t, "WrapRows", implemented(parent, rowsIfaces), want)
			if got := RowsMaskOf(parent); got != mask {
				t.Errorf("RowsMaskOf = %06b, want %06b", got, mask)
			}

			wrapped := WrapRows(ParentRows(parent), RowsMaskOf(parent))
			sameSet(t, "WrapRows(ParentRows)", implemented(wrapped, rowsIfaces), want)
		})
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
	tests := []struct {
		name string
		mask RowsMask
		want answers
	}{
		{"none: database/sql defaults", 0, answers{nextErr: io.EOF, scanType: "interface {}"}},
		{"all: the parent's answers", rowsAll, answers{
			hasNext: true, scanType: "int64", dbType: "INT8", length: 8, lengthOK: true,
			nullable: true, nullableOK: true, precision: 10, scale: 2, precisionScaleOK: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ParentRows(WrapRows(&fakeRows{}, tt.mask))
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
