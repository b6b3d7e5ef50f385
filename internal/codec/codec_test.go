package codec

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValueRoundTrip(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	est := mustLoad(t, "EST")
	instant := time.Date(2024, 7, 4, 9, 30, 15, 123456789, time.UTC)
	tests := []struct {
		name string
		v    driver.Value
	}{
		{"nil", nil},
		{"int64 zero", int64(0)},
		{"int64 small", int64(-7)},
		{"int64 max", int64(math.MaxInt64)},
		{"int64 min", int64(math.MinInt64)},
		{"float64", 3.25},
		{"float64 negative zero", math.Copysign(0, -1)},
		{"float64 +Inf", math.Inf(1)},
		{"float64 -Inf", math.Inf(-1)},
		{"float64 NaN", math.NaN()},
		{"float64 NaN payload", math.Float64frombits(0x7ff8_0000_0000_beef)},
		{"float64 signaling NaN", math.Float64frombits(0xfff0_0000_0000_0001)},
		{"float64 denormal", math.SmallestNonzeroFloat64},
		{"bool true", true},
		{"bool false", false},
		{"string empty", ""},
		{"string", "hello, world"},
		{"string NUL", "a\x00b\x00"},
		{"string invalid UTF-8", "\xff\xfe\xc3"},
		{"string long", strings.Repeat("xyz", 5000)},
		{"bytes nil", []byte(nil)},
		{"bytes empty", []byte{}},
		{"bytes", []byte{0, 1, 2, 0xff}},
		{"time UTC", instant},
		{"time zero", time.Time{}},
		{"time Local", instant.Local()},
		{"time Local now", time.Now()},
		{"time named zone", instant.In(ny)},
		{"time named zone in winter", time.Date(2024, 1, 1, 0, 0, 0, 1, ny)},
		{"time loaded fixed zone", instant.In(est)},
		{"time unnamed fixed zone", instant.In(time.FixedZone("", 2*3600))},
		{"time unnamed odd offset", instant.In(time.FixedZone("", 5*3600+30*60))},
		{"time unnamed negative offset", instant.In(time.FixedZone("", -9*3600-45))},
		{"time named fixed zone", instant.In(time.FixedZone("XST", -3*3600))},
		{"time fixed zone with a zone's name", instant.In(time.FixedZone("EST", -5*3600))},
		{"time fixed zone named UTC", instant.In(time.FixedZone("UTC", 0))},
		{"time year 1", time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
		{"time before 1885", time.Date(1800, 5, 6, 7, 8, 9, 10, time.UTC)},
		{"time after 2157", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"time far future", time.Unix(math.MaxInt64-62135596801, 999999999).UTC()},
		{"time far past", time.Unix(math.MinInt64, 0).UTC()},
		{"int", int(math.MinInt)},
		{"int32", int32(math.MinInt32)},
		{"int16", int16(math.MaxInt16)},
		{"int8", int8(-128)},
		{"uint", uint(math.MaxUint)},
		{"uint64", uint64(math.MaxUint64)},
		{"uint32", uint32(math.MaxUint32)},
		{"uint16", uint16(65535)},
		{"uint8", uint8(200)},
		{"float32", float32(-1.5)},
		{"float32 NaN payload", math.Float32frombits(0x7fc0_0123)},
		{"float32 negative zero", float32(math.Copysign(0, -1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := &Entry{Columns: sampleColumns(1), Rows: [][]driver.Value{{tt.v}}}
			got := roundTrip(t, want)
			if diff := diffEntry(got, want); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestTimeLocation(t *testing.T) {
	instant := time.Date(2024, 7, 4, 9, 30, 15, 0, time.UTC)
	decode := func(t *testing.T, v time.Time) time.Time {
		t.Helper()
		got := roundTrip(t, &Entry{Columns: sampleColumns(1), Rows: [][]driver.Value{{v}}})
		return got.Rows[0][0].(time.Time)
	}
	t.Run("UTC and Local keep their pointers", func(t *testing.T) {
		for _, loc := range []*time.Location{time.UTC, time.Local} {
			if got := decode(t, instant.In(loc)).Location(); got != loc {
				t.Errorf("Location() = %p (%v), want %p (%v)", got, got, loc, loc)
			}
		}
	})
	t.Run("named zones share one location", func(t *testing.T) {
		ny := mustLoad(t, "Europe/Paris")
		a, b := decode(t, instant.In(ny)), decode(t, instant.In(ny))
		if a.Location() != b.Location() {
			t.Errorf("two decodes gave locations %p and %p, want one", a.Location(), b.Location())
		}
		if got, want := a.Location().String(), "Europe/Paris"; got != want {
			t.Errorf("Location() = %q, want %q", got, want)
		}
	})
	t.Run("monotonic reading is dropped", func(t *testing.T) {
		now := time.Now()
		if got := decode(t, now); !reflect.DeepEqual(got, now.Round(0)) || !got.Equal(now) {
			t.Errorf("decoded %#v, want %#v", got, now.Round(0))
		}
	})
}

func TestEntryRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    *Entry
	}{
		{"empty", &Entry{}},
		{"header only", &Entry{Tokens: []uint64{1}, Created: time.Unix(1, 2).UTC(),
			Expires: time.Unix(3, 4).UTC(), Delta: -time.Second, Flags: math.MaxUint32}},
		{"tokens beyond the inline array", &Entry{Tokens: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}}},
		{"columns without rows", &Entry{Columns: sampleColumns(3)}},
		{"one row", sampleEntry(1)},
		{"many rows", sampleEntry(50)},
		{"compressed", sampleEntry(2000)},
		{"all value kinds in one row", &Entry{Columns: sampleColumns(7), Rows: [][]driver.Value{
			{nil, int64(1), "s", []byte(nil), []byte{}, true, time.Unix(5, 6).In(time.FixedZone("", 3600))},
			{int8(1), uint16(2), int(3), float32(4), 5.0, false, uint(6)},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := diffEntry(roundTrip(t, tt.e), tt.e); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestColumnsRoundTrip(t *testing.T) {
	var cols []Column
	for bits := range 16 {
		cols = append(cols, Column{
			Name:              "c" + string(rune('a'+bits)),
			DatabaseType:      []string{"", "VARCHAR"}[bits%2],
			HasLength:         bits&1 != 0,
			Length:            int64(bits) * 1000,
			Nullable:          bits&2 != 0,
			HasNullable:       bits&4 != 0,
			HasPrecisionScale: bits&8 != 0,
			Precision:         int64(bits),
			Scale:             -int64(bits),
		})
	}
	scans := []reflect.Type{nil, reflect.TypeFor[sql.NullString](), reflect.TypeFor[*any](),
		reflect.TypeFor[sql.RawBytes](), reflect.TypeFor[*int64]()}
	for i := range cols {
		cols[i].ScanType = scans[i%len(scans)]
	}
	cols = append(cols, Column{Name: "max", Length: math.MaxInt64, Precision: math.MinInt64, Scale: math.MaxInt64})
	want := &Entry{Columns: cols}
	if diff := diffEntry(roundTrip(t, want), want); diff != "" {
		t.Error(diff)
	}
}

type registeredScanType struct{ V int }

func TestUnknownScanType(t *testing.T) {
	RegisterScanType(reflect.TypeFor[registeredScanType]())
	b := mustEncode(t, &Entry{Columns: []Column{{Name: "x", ScanType: reflect.TypeFor[registeredScanType]()}}})
	// Rename the type in the string heap, as if another program version wrote it.
	i := bytes.Index(b, []byte("registeredScanType"))
	if i < 0 {
		t.Fatal("scan type name not found in the encoding")
	}
	b[i] = 'R'
	_, err := Decode(reseal(b))
	if !errors.Is(err, ErrUnknownType) || errors.Is(err, ErrCorrupt) {
		t.Errorf("Decode with an unknown scan type: error %v, want ErrUnknownType", err)
	}
}

func TestUnknownTimeZone(t *testing.T) {
	v := time.Unix(0, 0).In(mustLoad(t, "Asia/Tokyo"))
	b := mustEncode(t, &Entry{Columns: sampleColumns(1), Rows: [][]driver.Value{{v}}})
	i := bytes.Index(b, []byte("Asia/Tokyo"))
	if i < 0 {
		t.Fatal("zone name not found in the encoding")
	}
	copy(b[i:], "Asia/Tokyx")
	if _, err := Decode(reseal(b)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Decode with an unknown time zone: error %v, want ErrUnknownType", err)
	}
}

type myInt int64

func TestEncodeUnsupported(t *testing.T) {
	ny, err := os.ReadFile("/usr/share/zoneinfo/America/New_York")
	if err != nil {
		t.Skip("no zoneinfo database for a custom location")
	}
	renamed, err := time.LoadLocationFromTZData("Mars/Olympus", ny)
	if err != nil {
		t.Fatal(err)
	}
	unnamed, err := time.LoadLocationFromTZData("", ny)
	if err != nil {
		t.Fatal(err)
	}
	x := int64(1)
	tests := []struct {
		name string
		e    *Entry
	}{
		{"named integer type", oneValue(myInt(1))},
		{"pointer", oneValue(&x)},
		{"uintptr", oneValue(uintptr(1))},
		{"complex128", oneValue(complex(1, 2))},
		{"struct", oneValue(struct{}{})},
		{"slice of strings", oneValue([]string{"a"})},
		{"zone unknown to LoadLocation", oneValue(time.Unix(0, 0).In(renamed))},
		{"unnamed zone with transitions", oneValue(time.Unix(0, 0).In(unnamed))},
		{"unregistered scan type", &Entry{Columns: []Column{{Name: "x", ScanType: reflect.TypeFor[myInt]()}}}},
		{"short row", &Entry{Columns: sampleColumns(2), Rows: [][]driver.Value{{int64(1)}}}},
		{"rows without columns", &Entry{Rows: [][]driver.Value{{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			got, err := Encode(dst, tt.e)
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("Encode error = %v, want ErrUnsupported", err)
			}
			if string(got) != "prefix" {
				t.Errorf("Encode returned %q, want dst unchanged", got)
			}
		})
	}
}

func oneValue(v driver.Value) *Entry {
	return &Entry{Columns: sampleColumns(1), Rows: [][]driver.Value{{v}}}
}

func TestEncodeAppends(t *testing.T) {
	e := sampleEntry(3)
	b, err := Encode([]byte("prefix"), e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("prefix")) {
		t.Fatalf("Encode lost dst: %q", b[:10])
	}
	if !bytes.Equal(b[len("prefix"):], mustEncode(t, e)) {
		t.Error("encoding after a prefix differs from the encoding alone")
	}
}

func TestPeek(t *testing.T) {
	tests := []struct {
		name string
		e    *Entry
	}{
		{"no tokens", &Entry{Expires: time.Unix(100, 5).UTC()}},
		{"sample", sampleEntry(10)},
		{"compressed", sampleEntry(2000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens, expires, err := Peek(mustEncode(t, tt.e))
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			if !reflect.DeepEqual(tokens, tt.e.Tokens) {
				t.Errorf("tokens = %v, want %v", tokens, tt.e.Tokens)
			}
			if !expires.Equal(tt.e.Expires) {
				t.Errorf("expires = %v, want %v", expires, tt.e.Expires)
			}
		})
	}
}

func TestRegisterScanType(t *testing.T) {
	type local struct{}
	RegisterScanType(reflect.TypeFor[local]())
	RegisterScanType(reflect.TypeFor[local]()) // again: no-op
	if got, want := typeName(reflect.TypeFor[local]()), "github.com/cachedsql/cachedsql/internal/codec.local"; got != want {
		t.Errorf("typeName = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		name string
		t    reflect.Type
	}{
		{"nil", nil},
		{"name taken", reflect.TypeFor[struct{ local }]()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.t != nil {
				// Take the unnamed type's name with a different type first.
				scanTypes.mu.Lock()
				scanTypes.byName[typeName(tt.t)] = reflect.TypeFor[int]()
				scanTypes.mu.Unlock()
				t.Cleanup(func() {
					scanTypes.mu.Lock()
					delete(scanTypes.byName, typeName(tt.t))
					scanTypes.mu.Unlock()
				})
			}
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterScanType(%v) did not panic", tt.t)
				}
			}()
			RegisterScanType(tt.t)
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	type lateType struct{}
	e := sampleEntry(20)
	e.Rows[0][3] = time.Unix(1, 0).In(time.FixedZone("CCT", 8*3600))
	want := mustEncode(t, e)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			RegisterScanType(reflect.TypeFor[lateType]())
			b, err := Encode(nil, e)
			if err == nil && !bytes.Equal(b, want) {
				err = errors.New("concurrent Encode gave different bytes")
			}
			if err == nil {
				_, err = Decode(b)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestKeyBinding (issue 8): an entry records the tag of its key, in the envelope and in a row entry's
// meta field, and CheckKey reports it under any other key as corrupt.
func TestKeyBinding(t *testing.T) {
	const key, other = "ns:e:{a}:1", "ns:e:{a}:2"
	e := &Entry{Key: KeyTag(key), Columns: []Column{{Name: "id"}}, Rows: [][]driver.Value{{int64(1)}}}
	b, err := Encode(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := EncodeRow(e)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string)
	for i := 0; i < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	row, err := DecodeRow(m)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*Entry{"envelope": got, "row": row} {
		if err := d.CheckKey(key); err != nil {
			t.Errorf("%s: CheckKey(own key) = %v", name, err)
		}
		if err := d.CheckKey(other); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: CheckKey(other key) = %v, want ErrCorrupt", name, err)
		}
	}
	if KeyTag(key) == KeyTag(other) || KeyTag("") == 0 {
		t.Error("KeyTag: equal tags for two keys, or a zero tag")
	}
}
