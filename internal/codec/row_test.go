package codec

import (
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// rowFields encodes e with EncodeRow and returns its fields as a map,
// failing the test on an error or a repeated name.
func rowFields(t testing.TB, e *Entry) map[string]string {
	t.Helper()
	flat, err := EncodeRow(e)
	if err != nil {
		t.Fatalf("EncodeRow: %v", err)
	}
	if len(flat)%2 != 0 || len(flat) < 2 || flat[0] != MetaField {
		t.Fatalf("EncodeRow returned %d strings starting %q, want pairs with %q first", len(flat), flat[:min(1, len(flat))], MetaField)
	}
	m := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		if _, dup := m[flat[i]]; dup {
			t.Fatalf("EncodeRow repeated field %q", flat[i])
		}
		m[flat[i]] = flat[i+1]
	}
	return m
}

// rowRoundTrip encodes e with EncodeRow and decodes it with DecodeRow.
func rowRoundTrip(t testing.TB, e *Entry) *Entry {
	t.Helper()
	got, err := DecodeRow(rowFields(t, e))
	if err != nil {
		t.Fatalf("DecodeRow: %v", err)
	}
	return got
}

// resealRow returns a copy of fields whose meta checksums (the envelope's
// and the one over the column fields) are recomputed, so that a deliberate
// change reaches the value decoder. When the envelope does not decode, only
// its own checksum is recomputed.
func resealRow(fields map[string]string) map[string]string {
	out := maps.Clone(fields)
	meta, ok := fields[MetaField]
	if !ok || len(meta) < 2*crcLen {
		return out
	}
	envelope := reseal([]byte(meta[:len(meta)-crcLen]))
	crc := binary.LittleEndian.Uint32([]byte(meta[len(meta)-crcLen:]))
	if e, err := Decode(envelope); err == nil {
		crc = 0
		for _, name := range FieldNames(e.Columns) {
			crc = fieldCRC(crc, []byte(fields[name]))
		}
	}
	out[MetaField] = string(binary.LittleEndian.AppendUint32(envelope, crc))
	return out
}

func TestFieldNames(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{"none", nil, []string{}},
		{"plain", []string{"id", "email"}, []string{"id", "email"}},
		{"empty", []string{"", "a", ""}, []string{"_0", "a", "_2"}},
		{"underscore", []string{"_x", "_meta", "_1", "_"}, []string{"_0", "_1", "_2", "_3"}},
		{"duplicates", []string{"a", "a", "b", "a"}, []string{"a", "_1", "b", "_3"}},
		{"duplicate of a renamed name", []string{"_1", "x", "x"}, []string{"_0", "x", "_2"}},
		{"digits and case", []string{"1", "A", "a", "meta"}, []string{"1", "A", "a", "meta"}},
		{"spaces and symbols", []string{"a b", "a:b", "*"}, []string{"a b", "a:b", "*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols := make([]Column, len(tt.names))
			for i, n := range tt.names {
				cols[i].Name = n
			}
			got := FieldNames(cols)
			if !slices.Equal(got, tt.want) {
				t.Errorf("FieldNames(%q) = %q, want %q", tt.names, got, tt.want)
			}
			seen := map[string]bool{MetaField: true}
			for _, n := range got {
				if seen[n] {
					t.Errorf("FieldNames(%q) gives %q twice or as the meta field", tt.names, n)
				}
				seen[n] = true
			}
		})
	}
}

// rowValues lists values of every kind the codec supports, with the edge
// cases of exactness: nil against empty []byte, float bits, time locations.
func rowValues(t testing.TB) map[string]driver.Value {
	instant := time.Date(2024, 7, 4, 9, 30, 15, 123456789, time.UTC)
	return map[string]driver.Value{
		"nil":                      nil,
		"int64 small":              int64(-7),
		"int64 min":                int64(math.MinInt64),
		"int64 max":                int64(math.MaxInt64),
		"int":                      int(math.MinInt),
		"int32":                    int32(math.MinInt32),
		"int16":                    int16(math.MaxInt16),
		"int8":                     int8(-128),
		"uint":                     uint(math.MaxUint),
		"uint64":                   uint64(math.MaxUint64),
		"uint32":                   uint32(math.MaxUint32),
		"uint16":                   uint16(65535),
		"uint8":                    uint8(200),
		"float64":                  3.25,
		"float64 negative zero":    math.Copysign(0, -1),
		"float64 NaN payload":      math.Float64frombits(0x7ff8_0000_0000_beef),
		"float64 -Inf":             math.Inf(-1),
		"float32":                  float32(-1.5),
		"float32 NaN payload":      math.Float32frombits(0x7fc0_0123),
		"bool true":                true,
		"bool false":               false,
		"string empty":             "",
		"string":                   "hello, world",
		"string NUL and bad UTF-8": "a\x00b\xff",
		"string long":              strings.Repeat("xyz", 5000),
		"bytes nil":                []byte(nil),
		"bytes empty":              []byte{},
		"bytes":                    []byte{0, 1, 2, 0xff},
		"time UTC":                 instant,
		"time zero":                time.Time{},
		"time Local":               instant.Local(),
		"time named zone":          instant.In(mustLoad(t, "America/New_York")),
		"time loaded fixed zone":   instant.In(mustLoad(t, "EST")),
		"time unnamed fixed zone":  instant.In(time.FixedZone("", -9*3600-45)),
		"time named fixed zone":    instant.In(time.FixedZone("XST", -3*3600)),
		"time far future":          time.Unix(math.MaxInt64-62135596801, 999999999).UTC(),
	}
}

func TestRowRoundTrip(t *testing.T) {
	values := rowValues(t)
	for _, name := range slices.Sorted(maps.Keys(values)) {
		t.Run(name, func(t *testing.T) {
			want := oneValue(values[name])
			if diff := diffEntry(rowRoundTrip(t, want), want); diff != "" {
				t.Error(diff)
			}
		})
	}
	t.Run("every kind in one row", func(t *testing.T) {
		names := slices.Sorted(maps.Keys(values))
		row := make([]driver.Value, len(names))
		for i, n := range names {
			row[i] = values[n]
		}
		cols := sampleColumns(len(row))
		cols[0] = Column{Name: "_meta", DatabaseType: "NUMERIC", ScanType: reflect.TypeFor[float64](),
			Length: 7, HasLength: true, Precision: 10, Scale: 2, HasPrecisionScale: true}
		cols[1].Name = cols[2].Name // a duplicate name
		cols[3].Name = ""
		want := &Entry{
			Tokens:  []uint64{1, math.MaxUint64, 0x8000_0000_0000_0001},
			Created: time.Date(2024, 3, 10, 12, 0, 0, 1, time.UTC),
			Expires: time.Date(2024, 3, 10, 12, 5, 0, 0, time.UTC),
			Delta:   -1500 * time.Microsecond,
			Flags:   math.MaxUint32,
			Columns: cols,
			Rows:    [][]driver.Value{row},
		}
		if diff := diffEntry(rowRoundTrip(t, want), want); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("bytes do not alias each other", func(t *testing.T) {
		got := rowRoundTrip(t, &Entry{Columns: sampleColumns(2), Rows: [][]driver.Value{{[]byte("ab"), []byte("cd")}}})
		a := got.Rows[0][0].([]byte)
		if cap(a) != len(a) {
			t.Fatalf("cap of a decoded []byte = %d, want its length %d", cap(a), len(a))
		}
		_ = append(a, 'X')
		if b := got.Rows[0][1].([]byte); string(b) != "cd" {
			t.Errorf("appending to one []byte changed the next to %q", b)
		}
	})
}

// TestRowCompact pins the size of small column fields.
func TestRowCompact(t *testing.T) {
	tests := []struct {
		v    driver.Value
		want int
	}{
		{nil, 1},
		{true, 1},
		{int64(1), 2},
		{int64(-64), 2},
		{int32(100), 3},
		{"ab", 4},
		{[]byte(nil), 1},
		{time.Unix(1e9, 0).UTC(), 1 + 5 + 1 + 1},
	}
	for _, tt := range tests {
		fields := rowFields(t, oneValue(tt.v))
		if got := len(fields["col0"]); got != tt.want {
			t.Errorf("field of %#v is %d bytes, want %d", tt.v, got, tt.want)
		}
	}
	// The meta of one column: 4 prefix, 8 key tag, 1 token count, 2×2 instants at 0,
	// delta, flags; 1 column count, the column, 1 row count, 8 trailer, the
	// column's strings; 4 + 4 checksums.
	epoch := time.Unix(0, 0)
	meta := rowFields(t, &Entry{Created: epoch, Expires: epoch, Columns: []Column{{Name: "id"}},
		Rows: [][]driver.Value{{int64(1)}}})[MetaField]
	if want := 4 + 8 + 1 + 4 + 2 + 1 + minColumnLen + 1 + 8 + 2 + 4 + 4; len(meta) != want {
		t.Errorf("meta of one plain column is %d bytes, want %d", len(meta), want)
	}
}

func TestEncodeRowUnsupported(t *testing.T) {
	tests := []struct {
		name string
		e    *Entry
	}{
		{"no rows", &Entry{Columns: sampleColumns(1)}},
		{"two rows", sampleEntry(2)},
		{"no columns", &Entry{Rows: [][]driver.Value{{}}}},
		{"short row", &Entry{Columns: sampleColumns(2), Rows: [][]driver.Value{{int64(1)}}}},
		{"unsupported value", oneValue(struct{}{})},
		{"unregistered scan type", &Entry{Columns: []Column{{Name: "x", ScanType: reflect.TypeFor[myInt]()}},
			Rows: [][]driver.Value{{int64(1)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := EncodeRow(tt.e); !errors.Is(err, ErrUnsupported) || got != nil {
				t.Errorf("EncodeRow = %q, %v; want nil, ErrUnsupported", got, err)
			}
		})
	}
}

// corruptRowSample is an entry whose fields all differ, so that swapping any
// two changes the row.
func corruptRowSample() *Entry {
	e := sampleEntry(1)
	e.Rows[0][4] = []byte("bytes")
	return e
}

func TestDecodeRowCorrupt(t *testing.T) {
	valid := rowFields(t, corruptRowSample())
	names := slices.Sorted(maps.Keys(valid))
	edit := func(f func(m map[string]string)) map[string]string {
		m := maps.Clone(valid)
		f(m)
		return m
	}
	tests := map[string]map[string]string{
		"nil map":         nil,
		"empty map":       {},
		"extra field":     edit(func(m map[string]string) { m["extra"] = "\x00" }),
		"meta only":       {MetaField: valid[MetaField]},
		"meta short":      edit(func(m map[string]string) { m[MetaField] = "abc" }),
		"meta checksum":   edit(func(m map[string]string) { m[MetaField] = m[MetaField][:len(m[MetaField])-1] + "\x00" }),
		"meta of no cols": resealRow(edit(func(m map[string]string) { m[MetaField] = string(mustEncode(t, &Entry{})) + "\x00\x00\x00\x00" })),
		"meta with a row": edit(func(m map[string]string) {
			m[MetaField] = string(mustEncode(t, corruptRowSample())) + m[MetaField][len(m[MetaField])-4:]
		}),
		"swapped values":   edit(func(m map[string]string) { m["col0"], m["col1"] = m["col1"], m["col0"] }),
		"moved value":      edit(func(m map[string]string) { m["col0"] = m["col2"] }),
		"bad tag":          resealRow(edit(func(m map[string]string) { m["col0"] = "\xee" })),
		"empty value":      resealRow(edit(func(m map[string]string) { m["col0"] = "" })),
		"trailing byte":    resealRow(edit(func(m map[string]string) { m["col0"] += "\x00" })),
		"truncated string": resealRow(edit(func(m map[string]string) { m["col1"] = m["col1"][:len(m["col1"])-1] })),
		"string length":    resealRow(edit(func(m map[string]string) { m["col1"] = "\x05\xff\xff\xff\xff\xff\xff\xff\xff\x7f" })),
		"bytes length":     resealRow(edit(func(m map[string]string) { m["col4"] = "\x07\xff\xff\xff\xff\x0f" })),
		"time zone length": resealRow(edit(func(m map[string]string) { m["col3"] = "\x08\x00\x00\x03\xff\xff\xff\xff\x0f" })),
		"int8 range":       resealRow(edit(func(m map[string]string) { m["col0"] = "\x0c\x80\x02" })),
	}
	for _, name := range names {
		tests["missing "+name] = edit(func(m map[string]string) { delete(m, name) })
		tests["renamed "+name] = edit(func(m map[string]string) { m[name+"x"] = m[name]; delete(m, name) })
		tests["altered "+name] = edit(func(m map[string]string) { m[name] = m[name][:len(m[name])/2] + "\x01" + m[name][len(m[name])/2:] })
	}
	for name, fields := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := DecodeRow(fields); !errors.Is(err, ErrCorrupt) || got != nil {
				t.Errorf("DecodeRow = %v, %v; want nil, ErrCorrupt", got, err)
			}
		})
	}
}

// TestDecodeRowBitFlips flips every bit of every field: the checksums must
// catch each one.
func TestDecodeRowBitFlips(t *testing.T) {
	valid := rowFields(t, corruptRowSample())
	for name, v := range valid {
		for i := range len(v) * 8 {
			b := []byte(v)
			b[i/8] ^= 1 << (i % 8)
			fields := maps.Clone(valid)
			fields[name] = string(b)
			if _, err := DecodeRow(fields); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRow with bit %d of %q flipped: error %v, want ErrCorrupt", i, name, err)
			}
		}
	}
}

func TestDecodeRowUnknownType(t *testing.T) {
	t.Run("scan type", func(t *testing.T) {
		RegisterScanType(reflect.TypeFor[registeredScanType]())
		fields := rowFields(t, &Entry{Columns: []Column{{Name: "x", ScanType: reflect.TypeFor[registeredScanType]()}},
			Rows: [][]driver.Value{{int64(1)}}})
		fields[MetaField] = strings.Replace(fields[MetaField], "registeredScanType", "RegisteredScanType", 1)
		if _, err := DecodeRow(resealRow(fields)); !errors.Is(err, ErrUnknownType) || errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeRow with an unknown scan type: error %v, want ErrUnknownType", err)
		}
	})
	t.Run("time zone", func(t *testing.T) {
		fields := rowFields(t, oneValue(time.Unix(0, 0).In(mustLoad(t, "Asia/Tokyo"))))
		fields["col0"] = strings.Replace(fields["col0"], "Asia/Tokyo", "Asia/Tokyx", 1)
		if _, err := DecodeRow(resealRow(fields)); !errors.Is(err, ErrUnknownType) {
			t.Errorf("DecodeRow with an unknown time zone: error %v, want ErrUnknownType", err)
		}
		if _, err := DecodeRow(fields); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeRow with a renamed zone and a stale checksum: error %v, want ErrCorrupt", err)
		}
	})
}

// TestDecodeRowHostileLengths checks that lengths claiming far more than the
// fields hold cost no large allocation.
func TestDecodeRowHostileLengths(t *testing.T) {
	valid := rowFields(t, corruptRowSample())
	huge := string(binary.AppendUvarint(nil, 1<<62))
	tests := map[string]map[string]string{
		"string": resealRow(mapWith(valid, "col1", "\x05"+huge)),
		"bytes":  resealRow(mapWith(valid, "col4", "\x07"+huge)),
		"zone":   resealRow(mapWith(valid, "col3", "\x08\x00\x00\x02"+huge)),
	}
	for name, fields := range tests {
		t.Run(name, func(t *testing.T) {
			var err error
			allocated := bytesAllocated(func() { _, err = DecodeRow(fields) })
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("DecodeRow error = %v, want ErrCorrupt", err)
			}
			if allocated > 64<<10 {
				t.Errorf("DecodeRow allocated %d bytes, want at most 64 KiB", allocated)
			}
		})
	}
}

// mapWith returns a copy of m with m[k] = v.
func mapWith(m map[string]string, k, v string) map[string]string {
	m = maps.Clone(m)
	m[k] = v
	return m
}

// TestRowMatchesBody checks that a field holds the same value encoding as the
// body of Encode: the fixed part, then the bytes the body puts in a heap.
func TestRowMatchesBody(t *testing.T) {
	for name, v := range rowValues(t) {
		var h heapSizes
		fixed, err := appendValue(nil, v, &h)
		if err != nil {
			t.Fatal(err)
		}
		field := rowFields(t, oneValue(v))["col0"]
		if !strings.HasPrefix(field, string(fixed)) || uint64(len(field)-len(fixed)) != h.str+h.bin {
			t.Errorf("%s: field %q, want %q followed by %d heap bytes", name, field, fixed, h.str+h.bin)
		}
	}
}
