package keying

import (
	"database/sql"
	"database/sql/driver"
	"math"
	"testing"
	"time"
)

type (
	uuidBytes [16]byte // like github.com/google/uuid.UUID, without its Valuer
	myUint    uint16
	myBytes   []byte
	myBool    bool
	// textUUID is a [16]byte Valuer returning the hyphenated text, as uuid.UUID does.
	textUUID [16]byte
	// deep is a Valuer whose value is itself, nested n more times.
	deep struct{ n int }
)

func (u textUUID) Value() (driver.Value, error) {
	h := hexOf(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func (d deep) Value() (driver.Value, error) {
	if d.n == 0 {
		return int64(1), nil
	}
	return deep{d.n - 1}, nil
}

func hexOf(b []byte) string {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexDigits[c>>4], hexDigits[c&15])
	}
	return string(out)
}

// TestRowHashSameRow lists spellings of one database value that must name
// one row.
func TestRowHashSameRow(t *testing.T) {
	u := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	digits := [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45, 0x67, 0x89, 0x01}
	five := int64(5)
	tm := time.Date(2024, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	groups := []struct {
		name string
		vals []any
	}{
		{"five", []any{int64(5), 5, int8(5), uint64(5), myInt(5), myUint(5), 5.0, float32(5), "5", " 5 ", "\t05\n",
			"+5", "5.0", "5.000", "5e0", "0.5e1", "50e-1", []byte("5"), myString("5"), myBytes("5"), &five,
			sql.NullInt64{Int64: 5, Valid: true}, money{5}, celsius(5), json5{}}},
		{"zero", []any{0, math.Copysign(0, -1), "0", "-0", "+0.000", "0e10", ".0", false, myBool(false), "f", "false", "No", "off"}},
		{"one and true", []any{1, true, "1", "true", "T", " yes ", "on", uint8(1)}},
		{"negative", []any{-42, int16(-42), -42.0, "-42", " -042.0 ", "-4.2e1"}},
		{"fraction", []any{0.1, float32(0.1), "0.1", "0.10", ".1", "1e-1", "0.100000000000000000001"}},
		{"big integer", []any{uint64(math.MaxUint64), "18446744073709551615", "18446744073709551615.000", "1.8446744073709551615e19"}},
		{"beyond int64, a float", []any{1e20, "1e20", "100000000000000000000", "1E+20", float32(1e20)}},
		{"huge", []any{1e300, "1e300", "1.0E300"}},
		{"infinity", []any{math.Inf(1), "Infinity", "inf", "+INF"}},
		{"nan", []any{math.NaN(), "NaN", "nan"}},
		{"null", []any{nil, (*int64)(nil), (*money)(nil), sql.NullString{}, "NULL", " null "}},
		{"text", []any{"Bob", "bob", " BOB ", []byte("bOb"), myString("BOB"), sql.NullString{String: "Bob", Valid: true}}},
		{"uuid", []any{u, uuidBytes(u), textUUID(u), "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
			"6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}",
			"6ba7b8109dad11d180b400c04fd430c8", " {6BA7B8109DAD11D180B400C04FD430C8} "}},
		{"uuid of digits", []any{digits, "01234567-8901-2345-6789-012345678901", "01234567890123456789012345678901"}},
		{"time", []any{tm, tm.In(time.FixedZone("X", 3600)), &tm, "2024-01-02T03:04:05.5Z", " 2024-01-02t03:04:05.5z "}},
		{"nested valuer", []any{deep{maxValuerDepth - 2}, int64(1)}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			want, ok := RowHash("t", []string{"c"}, g.vals[:1])
			if !ok {
				t.Fatalf("RowHash(%#v) not ok", g.vals[0])
			}
			for _, v := range g.vals[1:] {
				if got, ok := RowHash("t", []string{"c"}, []any{v}); !ok || got != want {
					c0, _ := canonical(g.vals[0], 0)
					c1, _ := canonical(v, 0)
					t.Errorf("%T %#v names %q, %T %#v names %q (ok %v)", g.vals[0], g.vals[0], c0, v, v, c1, ok)
				}
			}
		})
	}
}

// json5 is a Valuer returning text, as many custom types do.
type json5 struct{}

func (json5) Value() (driver.Value, error) { return "5", nil }

// TestRowHashDistinct lists values that are different rows: merging them
// would be safe, but a useful hash keeps them apart.
func TestRowHashDistinct(t *testing.T) {
	vals := []any{nil, 0, 1, 2, -1, 0.5, "a", "b", "ab", "a b", "5abc", "2024-01-02",
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-11d1-80b4-00c04fd430c9",
		"1e400", "1e401", "12345678901234567890123456789012345678901234567890", 1e100, "nan?",
		"9007199254740993", int64(9007199254740992)}
	seen := make(map[Hash]any)
	for _, v := range vals {
		h, ok := RowHash("t", []string{"c"}, []any{v})
		if !ok {
			t.Fatalf("RowHash(%#v) not ok", v)
		}
		if prev, dup := seen[h]; dup {
			t.Errorf("%#v and %#v name one row", prev, v)
		}
		seen[h] = v
	}
}

func TestRowHashCanonicalForms(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{int64(-5), "-5"}, {"007", "7"}, {"-0.0", "0"}, {5.25, "5.25"}, {"5.250", "5.25"},
		{1e20, "100000000000000000000"}, {1e300, "1e+300"}, {"1e400", "1e400"}, {"-2.50e400", "-2.5e400"},
		{"1e-400", "1e-400"}, {1.5e-7, "1.5e-07"}, {math.Inf(-1), "-infinity"}, {"  Hello World ", "hello world"},
		{"{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}", "6ba7b8109dad11d180b400c04fd430c8"},
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)), "2024-01-02t02:04:05z"},
		{true, "1"}, {"Yes", "1"}, {nil, "null"},
	}
	for _, tt := range tests {
		if got, ok := canonical(tt.in, 0); !ok || got != tt.want {
			t.Errorf("canonical(%#v) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestRowHashRefuses(t *testing.T) {
	type pair struct{ A, B int }
	bad := map[string]any{
		"struct":          pair{1, 2},
		"map":             map[string]int{},
		"int slice":       []int{1},
		"complex":         complex(1, 2),
		"failing valuer":  failing{},
		"deep valuer":     deep{maxValuerDepth + 1},
		"pointer to bad":  &pair{},
		"array not bytes": [16]int{},
		"short array":     [4]byte{},
	}
	for name, v := range bad {
		t.Run(name, func(t *testing.T) {
			if h, ok := RowHash("t", []string{"c"}, []any{v}); ok {
				t.Errorf("RowHash(%#v) = %v, true; want false", v, h)
			}
		})
	}
	for name, call := range map[string]func() (Hash, bool){
		"no columns":      func() (Hash, bool) { return RowHash("t", nil, nil) },
		"fewer values":    func() (Hash, bool) { return RowHash("t", []string{"a", "b"}, []any{1}) },
		"repeated column": func() (Hash, bool) { return RowHash("t", []string{"a", "a"}, []any{1, 1}) },
	} {
		if _, ok := call(); ok {
			t.Errorf("%s: RowHash ok, want false", name)
		}
	}
}

func TestRowHashStructure(t *testing.T) {
	h := func(table string, cols []string, vals ...any) Hash {
		t.Helper()
		out, ok := RowHash(table, cols, vals)
		if !ok {
			t.Fatalf("RowHash(%q, %q, %v) not ok", table, cols, vals)
		}
		return out
	}
	base := h("users", []string{"id", "org"}, 1, 2)
	if got := h("users", []string{"org", "id"}, 2, 1); got != base {
		t.Error("the order of the pairs changed the hash")
	}
	differ := map[string]Hash{
		"table":          h("orgs", []string{"id", "org"}, 1, 2),
		"column":         h("users", []string{"id", "team"}, 1, 2),
		"swapped values": h("users", []string{"id", "org"}, 2, 1),
		"fewer columns":  h("users", []string{"id"}, 1),
	}
	for name, got := range differ {
		if got == base {
			t.Errorf("changing the %s kept the hash", name)
		}
	}
	if got := h("users", []string{"id", "org"}, "1", " 02 "); got != base {
		t.Error("spelling the values differently changed the hash")
	}
	if h("t", []string{"ab", "c"}, "x", "y") == h("t", []string{"a", "bc"}, "x", "y") {
		t.Error("column names are not length-prefixed")
	}
	if h("t", []string{"a"}, "b:c") == h("t:a", []string{"b"}, "c") {
		t.Error("table and column are not separated")
	}
}

// TestRowHashTableCase checks that the table's name is compared as Layout.Token compares it (SQLite and
// MySQL read "Users" and users as one table), while column names stay exact.
func TestRowHashTableCase(t *testing.T) {
	a, _ := RowHash("users", []string{"id"}, []any{int64(1)})
	b, _ := RowHash("Users", []string{"id"}, []any{int64(1)})
	c, _ := RowHash("users", []string{"ID"}, []any{int64(1)})
	if a != b {
		t.Error(`RowHash("Users") differs from RowHash("users")`)
	}
	if a == c {
		t.Error(`RowHash with column "ID" equals column "id"`)
	}
}
