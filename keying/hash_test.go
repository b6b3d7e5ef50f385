package keying

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func hashOf(t *testing.T, args ...any) Hash {
	t.Helper()
	h, err := HashArgs(positional(args...))
	if err != nil {
		t.Fatalf("HashArgs(%v): %v", args, err)
	}
	return h
}

func positional(args ...any) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

type (
	myInt    int64
	myString string
	point    struct {
		X, Y int
		tag  string
	}
	wrapper struct {
		inner *point
		raw   []byte
	}
	celsius float64
	// money is a driver.Valuer with a value receiver.
	money struct{ cents int64 }
	// failing is a driver.Valuer that always fails.
	failing struct{}
	// node can form a cycle.
	node struct{ next *node }
)

func (m money) Value() (driver.Value, error)   { return m.cents, nil }
func (failing) Value() (driver.Value, error)   { return nil, errors.New("boom") }
func (c celsius) Value() (driver.Value, error) { return float64(c), nil }

func TestHashArgsDistinct(t *testing.T) {
	utc := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	paris := utc.In(time.FixedZone("CET", 3600))
	var nilPoint *point
	var nilMoney *money
	values := map[string]any{
		"nil":              nil,
		"empty string":     "",
		"empty bytes":      []byte{},
		"nil bytes":        []byte(nil),
		"int64 0":          int64(0),
		"string 0":         "0",
		"false":            false,
		"int64 1":          int64(1),
		"float64 1":        float64(1),
		"string 1":         "1",
		"true":             true,
		"int 1":            1,
		"int32 1":          int32(1),
		"uint8 1":          uint8(1),
		"float32 1":        float32(1),
		"named int 1":      myInt(1),
		"named string 1":   myString("1"),
		"float64 0":        float64(0),
		"float64 -0":       math.Copysign(0, -1),
		"time utc":         utc,
		"time paris":       paris,
		"time +1ns":        utc.Add(1),
		"ptr to int64 1":   ptr(int64(1)),
		"nil *point":       nilPoint,
		"nil *money":       nilMoney,
		"point":            point{1, 2, "a"},
		"point other tag":  point{1, 2, "b"},
		"ptr to point":     &point{1, 2, "a"},
		"wrapper":          wrapper{inner: &point{1, 2, "a"}, raw: []byte("x")},
		"wrapper nil":      wrapper{},
		"[]int32{}":        []int32{},
		"[]int64{}":        []int64{},
		"[]int32{1}":       []int32{1},
		"[]int32{1,2}":     []int32{1, 2},
		"[]int32 nil":      []int32(nil),
		"[16]byte":         [16]byte{1},
		"[]any{1}":         []any{int64(1)},
		"[]any{\"1\"}":     []any{"1"},
		"money 1":          money{1},
		"NullString valid": sql.NullString{String: "1", Valid: true},
		"NullString null":  sql.NullString{},
		"celsius 1":        celsius(1),
		"complex":          complex(1, 2),
	}
	seen := map[Hash]string{}
	for name, v := range values {
		h := hashOf(t, v)
		if other, ok := seen[h]; ok {
			t.Errorf("%s and %s hash alike: %v", name, other, h)
		}
		seen[h] = name
	}
}

func ptr[T any](v T) *T { return &v }

func TestHashArgsEqual(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name string
		a, b any
	}{
		{"string", "abc", string([]byte("abc"))},
		{"bytes", []byte("abc"), []byte("abc")},
		{"time without monotonic", ts, ts.Round(0)},
		{"struct", point{1, 2, "a"}, point{1, 2, "a"}},
		{"pointer", &point{1, 2, "a"}, &point{1, 2, "a"}},
		{"slice", []int32{1, 2}, []int32{1, 2}},
		{"valuer", money{5}, money{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, b := hashOf(t, tt.a), hashOf(t, tt.b); a != b {
				t.Errorf("hashes differ: %v != %v", a, b)
			}
		})
	}
}

func TestHashArgsPositionAndName(t *testing.T) {
	base := hashOf(t, int64(1), int64(2))
	if swapped := hashOf(t, int64(2), int64(1)); swapped == base {
		t.Error("swapping arguments kept the hash")
	}
	if fewer := hashOf(t, int64(1)); fewer == base {
		t.Error("dropping an argument kept the hash")
	}
	named := []driver.NamedValue{{Name: "a", Ordinal: 1, Value: int64(1)}, {Name: "b", Ordinal: 2, Value: int64(2)}}
	h, err := HashArgs(named)
	if err != nil {
		t.Fatal(err)
	}
	if h == base {
		t.Error("naming the arguments kept the hash")
	}
	// Moving a string's boundary between arguments must change the hash.
	if hashOf(t, "ab", "c") == hashOf(t, "a", "bc") {
		t.Error(`("ab","c") and ("a","bc") hash alike`)
	}
	if hashOf(t) == hashOf(t, nil) {
		t.Error("no arguments and one NULL hash alike")
	}
}

func TestHashArgsUnhashable(t *testing.T) {
	loop := &node{}
	loop.next = loop
	var fn func()
	tests := []struct {
		name string
		v    any
	}{
		{"map", map[string]int{"a": 1}},
		{"func", func() {}},
		{"nil func", fn},
		{"chan", make(chan int)},
		{"unsafe pointer", unsafe.Pointer(&fn)},
		{"map in struct", struct{ m map[int]int }{map[int]int{}}},
		{"map in slice", []any{map[int]int{}}},
		{"cycle", loop},
		{"failing valuer", failing{}},
		{"unexported time", struct{ at time.Time }{time.Now()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := HashArgs(positional(int64(1), tt.v))
			if !errors.Is(err, ErrUnhashable) {
				t.Fatalf("err = %v, want ErrUnhashable", err)
			}
			if want := "argument 2"; !strings.Contains(err.Error(), want) {
				t.Errorf("err = %q, want it to name %q", err, want)
			}
		})
	}
}

func TestHashString(t *testing.T) {
	h := Hash{0x01, 0xab}
	if got, want := h.String(), "01ab0000000000000000000000000000"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
