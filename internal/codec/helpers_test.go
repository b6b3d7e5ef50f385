package codec

import (
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"reflect"
	"testing"
	"time"
	_ "time/tzdata" // named zones must load on machines without a zoneinfo database
)

// mustLoad loads a time zone or fails the test.
func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

// mustEncode encodes e or fails the test.
func mustEncode(t testing.TB, e *Entry) []byte {
	t.Helper()
	b, err := Encode(nil, e)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

// roundTrip encodes and decodes e, failing the test on any error.
func roundTrip(t testing.TB, e *Entry) *Entry {
	t.Helper()
	got, err := Decode(mustEncode(t, e))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return got
}

// reseal overwrites the checksum of b so that a deliberate change to the
// content reaches the decoder instead of failing the CRC.
func reseal(b []byte) []byte {
	b = append([]byte(nil), b...)
	if len(b) >= crcLen {
		n := len(b) - crcLen
		binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	}
	return b
}

// frame builds an encoding from raw header flags, header and body bytes.
func frame(flags byte, header, body []byte) []byte {
	b := append([]byte{magic0, magic1, version, flags}, header...)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// emptyHeader is the header of an Entry with no tokens and zero times.
func emptyHeader() []byte {
	return appendHeader(nil, &Entry{})
}

// sameValue reports whether got reproduces want exactly: same dynamic type,
// same float bits, same time location, and deep equality otherwise.
func sameValue(got, want driver.Value) bool {
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		return false
	}
	switch w := want.(type) {
	case float64:
		return math.Float64bits(got.(float64)) == math.Float64bits(w)
	case float32:
		return math.Float32bits(got.(float32)) == math.Float32bits(w)
	case time.Time:
		return sameTime(got.(time.Time), w)
	}
	return reflect.DeepEqual(got, want)
}

// sameTime checks the instant, the location (by pointer for UTC and Local,
// by name and offset otherwise) and the representation, which must carry no
// monotonic reading.
func sameTime(got, want time.Time) bool {
	gl, wl := got.Location(), want.Location()
	if wl == time.UTC || wl == time.Local || gl == time.UTC || gl == time.Local {
		if gl != wl {
			return false
		}
	}
	gn, go_ := got.Zone()
	wn, wo := want.Zone()
	return gl.String() == wl.String() && gn == wn && go_ == wo &&
		reflect.DeepEqual(got, want.Round(0)) && reflect.DeepEqual(got, got.Round(0))
}

// diffEntry describes the first difference between got and want, or returns "".
func diffEntry(got, want *Entry) string {
	switch {
	case !reflect.DeepEqual(got.Tokens, want.Tokens):
		return fmt.Sprintf("Tokens = %v, want %v", got.Tokens, want.Tokens)
	case !sameTime(got.Created, want.Created.UTC()):
		return fmt.Sprintf("Created = %v, want %v", got.Created, want.Created)
	case !sameTime(got.Expires, want.Expires.UTC()):
		return fmt.Sprintf("Expires = %v, want %v", got.Expires, want.Expires)
	case got.Delta != want.Delta || got.Flags != want.Flags:
		return fmt.Sprintf("Delta, Flags = %v, %#x, want %v, %#x", got.Delta, got.Flags, want.Delta, want.Flags)
	case !reflect.DeepEqual(got.Columns, want.Columns):
		return fmt.Sprintf("Columns = %+v, want %+v", got.Columns, want.Columns)
	case len(got.Rows) != len(want.Rows):
		return fmt.Sprintf("%d rows, want %d", len(got.Rows), len(want.Rows))
	}
	for i := range want.Rows {
		if len(got.Rows[i]) != len(want.Rows[i]) {
			return fmt.Sprintf("row %d has %d values, want %d", i, len(got.Rows[i]), len(want.Rows[i]))
		}
		for j, w := range want.Rows[i] {
			if g := got.Rows[i][j]; !sameValue(g, w) {
				return fmt.Sprintf("row %d column %d = %#v (%T), want %#v (%T)", i, j, g, g, w, w)
			}
		}
	}
	return ""
}

// sampleColumns returns n columns cycling through the types of sampleRow.
func sampleColumns(n int) []Column {
	kinds := []struct {
		db   string
		scan reflect.Type
	}{
		{"INT8", reflect.TypeFor[int64]()},
		{"TEXT", reflect.TypeFor[string]()},
		{"FLOAT8", reflect.TypeFor[float64]()},
		{"TIMESTAMPTZ", reflect.TypeFor[time.Time]()},
		{"BYTEA", reflect.TypeFor[[]byte]()},
	}
	cols := make([]Column, n)
	for i := range cols {
		k := kinds[i%len(kinds)]
		cols[i] = Column{Name: fmt.Sprintf("col%d", i), DatabaseType: k.db, ScanType: k.scan,
			Nullable: true, HasNullable: true}
	}
	return cols
}

// sampleRow returns the i-th row of sampleEntry: an int64, a string, a float64,
// a time and a []byte.
func sampleRow(i int) []driver.Value {
	return []driver.Value{
		int64(1000 + i),
		fmt.Sprintf("user-%d@example.com", i),
		float64(i) * 1.25,
		time.Date(2024, 3, 10, 12, 0, i%60, i, time.UTC),
		[]byte{byte(i), byte(i >> 8), 0xff},
	}
}

// sampleEntry returns an entry of rows rows of five columns.
func sampleEntry(rows int) *Entry {
	e := &Entry{
		Tokens:  []uint64{0x1234_5678_9abc_def0, 42, math.MaxUint64},
		Created: time.Date(2024, 3, 10, 12, 0, 0, 123456789, time.UTC),
		Expires: time.Date(2024, 3, 10, 12, 5, 0, 0, time.UTC),
		Delta:   1500 * time.Microsecond,
		Flags:   0b1011,
		Columns: sampleColumns(5),
	}
	for i := range rows {
		e.Rows = append(e.Rows, sampleRow(i))
	}
	return e
}
