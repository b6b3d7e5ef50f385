package store

import (
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, v := range []uint64{1, 0xab, 1 << 63, 0xffffffffffffffff, 0x0123456789abcdef} {
		enc := encodeToken(v)
		if got := decodeToken(enc[:]); got != v {
			t.Errorf("decodeToken(encodeToken(%#x)) = %#x, want %#x", v, got, v)
		}
		if got := decodeToken(string(enc[:])); got != v {
			t.Errorf("decodeToken(%q) = %#x, want %#x", enc, got, v)
		}
	}
}

func TestDecodeForeignToken(t *testing.T) {
	tests := []struct {
		name, value string
	}{
		{"empty", ""},
		{"zero", "0000000000000000"},
		{"upper case", "ABCDEF0123456789"},
		{"too short", "abc"},
		{"too long", "0123456789abcdef0"},
		{"decimal", "12345678901234567890"},
		{"not hex", "0123456789abcdeg"},
	}
	seen := make(map[uint64]string)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeToken(tt.value)
			if want := foreignToken(tt.value); got != want {
				t.Errorf("decodeToken(%q) = %#x, want the foreign token %#x", tt.value, got, want)
			}
			if got&(1<<63) == 0 {
				t.Errorf("decodeToken(%q) = %#x, want the top bit set", tt.value, got)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("decodeToken(%q) = decodeToken(%q) = %#x, want distinct", tt.value, other, got)
			}
			seen[got] = tt.value
		})
	}
}

func TestNewTokenNonZero(t *testing.T) {
	for range 1000 {
		if newToken() == 0 {
			t.Fatal("newToken() = 0, want non-zero")
		}
	}
}

func TestEscapeGlob(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain:prefix:", "plain:prefix:"},
		{"a*b", `a\*b`},
		{"[x]?", `\[x\]\?`},
		{`back\slash`, `back\\slash`},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := escapeGlob(tt.in); got != tt.want {
				t.Errorf("escapeGlob(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
