package keying

import (
	"crypto/sha256"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rowDomain separates row hashes from any other use of SHA-256.
const rowDomain = "cachedsql row v1\x00"

// RowHash returns the hash naming the rows of table whose columns cols hold
// vals (driver values or Go argument values, in cols order), after
// canonicalization, and false when some value cannot be canonicalized.
// Pass table and cols as [Pins] and [Lookup] give them; the pairs are
// sorted by column first, so their order does not matter, and a repeated
// column, no column at all or len(cols) != len(vals) give false.
//
// The hash is the first 128 bits of the SHA-256 of a domain string, the
// table, and each column with its canonical value, all length-prefixed.
// Canonicalization names one database value by one string whatever Go type
// or spelling carries it, so that a write and a read agree on the row; it
// may merge distinct values (which only costs an extra invalidation) but
// must never split one. The canonical forms:
//
//   - nil and a nil pointer: "null". A bool: "1" or "0".
//   - Integers of every kind, named or not: decimal.
//   - Numbers (floats, and strings that are decimal numbers: optional sign,
//     digits, optional fraction and exponent): an integer of at most 40
//     digits is written in decimal, without sign for zero, leading zeros or
//     "+"; any other number is rounded to a float64 and written as a decimal
//     integer when that float is an integer of at most 40 digits, else as
//     strconv 'g' with the shortest precision, lower-cased. float32 values
//     use their shortest float32 form, so float32(0.1) is "0.1". NaN is
//     "nan"; infinities (and the strings inf, infinity) are "infinity" and
//     "-infinity". So int64(5), "5", " 05 ", "5.0", "5e0" and 5.0 agree.
//   - Strings, []byte and named string or byte-slice types: trimmed of
//     Unicode space at both ends, then a number as above, else a UUID
//     (32 hex digits, optionally hyphenated 8-4-4-4-12 and optionally in
//     braces, any case) as 32 lower-case hex digits, else the boolean words
//     t, true, y, yes, on (and prefixes PostgreSQL accepts) as "1" and f,
//     false, n, no, off as "0", else strings.ToLower of the text.
//   - [16]byte arrays of any named type (uuid.UUID): 32 lower-case hex
//     digits. Hex digits that happen to form a decimal number are read as
//     the number, exactly as the same hex text would be, so every spelling
//     of one UUID agrees.
//   - time.Time: its instant in UTC as RFC 3339 with nanoseconds, lower-cased
//     ("2024-01-02t03:04:05.5z").
//   - A driver.Valuer: the canonical form of its Value (nested at most 8
//     deep; an error gives false). Other pointers: what they point to.
//   - Anything else (structs, maps, slices other than bytes, complex
//     numbers): false.
//
// WARNING: only these equivalences are known. Do not key row rules on
// columns whose database equality is wider: accent-insensitive or other
// MySQL collations that fold more than lower-casing ('é' = 'e', 'ß' = 'ss'),
// dates and times written as text in other forms than the one above
// ('2024-01-02 03:04:05' and a time.Time differ), floating-point columns
// given values that round differently, or strings compared with numbers by
// MySQL's lenient conversion ('5abc' = 5).
func RowHash(table string, cols []string, vals []any) (Hash, bool) {
	if len(cols) == 0 || len(cols) != len(vals) {
		return Hash{}, false
	}
	type pair struct{ col, val string }
	pairs := make([]pair, len(cols))
	for i, c := range cols {
		v, ok := canonical(vals[i], 0)
		if !ok {
			return Hash{}, false
		}
		pairs[i] = pair{c, v}
	}
	slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.col, b.col) })
	buf := make([]byte, 0, 64+len(table)+32*len(pairs))
	buf = append(buf, rowDomain...)
	// The table's name is lower-cased as Layout.Token does: SQLite and MySQL take "Users" and users for
	// one table, and merging two PostgreSQL tables only costs extra invalidations. Columns stay exact:
	// merging two columns would pin a write to the wrong rows.
	buf = appendString(buf, lowerASCII(table))
	buf = binary.AppendUvarint(buf, uint64(len(pairs)))
	for i, p := range pairs {
		if i > 0 && p.col == pairs[i-1].col {
			return Hash{}, false
		}
		buf = appendString(appendString(buf, p.col), p.val)
	}
	sum := sha256.Sum256(buf)
	return Hash(sum[:16]), true
}

func appendString(buf []byte, s string) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(s))), s...)
}

// maxValuerDepth bounds nested driver.Valuer and pointer values.
const maxValuerDepth = 8

// canonical returns the canonical form of one value (see [RowHash]).
func canonical(v any, depth int) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "null", true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return canonFloat(x, 64), true
	case string:
		return canonString(x), true
	case []byte:
		return canonString(string(x)), true
	case bool:
		return canonBool(x), true
	case time.Time:
		return strings.ToLower(x.UTC().Format(time.RFC3339Nano)), true
	}
	if depth >= maxValuerDepth {
		return "", false
	}
	rv := reflect.ValueOf(v)
	if vr, ok := v.(driver.Valuer); ok {
		// As database/sql does: a nil pointer whose type has Value on the
		// value receiver is NULL rather than a panic.
		if rv.Kind() == reflect.Pointer && rv.IsNil() && rv.Type().Elem().Implements(valuerType) {
			return "null", true
		}
		val, err := vr.Value()
		if err != nil {
			return "", false
		}
		return canonical(val, depth+1)
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.Float32:
		return canonFloat(rv.Float(), 32), true
	case reflect.Float64:
		return canonFloat(rv.Float(), 64), true
	case reflect.Bool:
		return canonBool(rv.Bool()), true
	case reflect.String:
		return canonString(rv.String()), true
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return canonString(string(rv.Bytes())), true
		}
	case reflect.Array:
		if rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
			var b [16]byte
			reflect.Copy(reflect.ValueOf(&b).Elem(), rv)
			return canonHex32(hex.EncodeToString(b[:])), true
		}
	case reflect.Pointer:
		if rv.IsNil() {
			return "null", true
		}
		return canonical(rv.Elem().Interface(), depth+1)
	}
	return "", false
}

func canonBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// boolWords are the spellings of booleans PostgreSQL accepts (with their
// prefixes), MySQL's and SQLite's 1 and 0 being numbers already.
var boolWords = map[string]string{
	"t": "1", "tr": "1", "tru": "1", "true": "1", "y": "1", "ye": "1", "yes": "1", "on": "1",
	"f": "0", "fa": "0", "fal": "0", "fals": "0", "false": "0", "n": "0", "no": "0", "of": "0", "off": "0",
	"inf": "infinity", "+inf": "infinity", "infinity": "infinity", "+infinity": "infinity",
	"-inf": "-infinity", "-infinity": "-infinity", "nan": "nan",
}

// canonString canonicalizes text: a number, a UUID, a boolean word, or the
// text lower-cased.
func canonString(s string) string {
	t := strings.TrimSpace(s)
	if n, ok := canonDecimal(t); ok {
		return n
	}
	if h, ok := uuidHex(t); ok {
		return canonHex32(h)
	}
	l := strings.ToLower(t)
	if w, ok := boolWords[l]; ok {
		return w
	}
	return l
}

// canonHex32 canonicalizes 32 lower-case hex digits as canonString
// canonicalizes the same text.
func canonHex32(h string) string {
	if n, ok := canonDecimal(h); ok {
		return n
	}
	return h
}

// uuidHex returns the 32 lower-case hex digits of a UUID written as 32 hex
// digits or hyphenated 8-4-4-4-12, either optionally in braces.
func uuidHex(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' {
		s = s[1 : len(s)-1]
	}
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return "", false
	}
	var b [32]byte
	for i := 0; i < 32; i++ {
		c := s[i]
		switch {
		case isDigit(c) || c >= 'a' && c <= 'f':
			b[i] = c
		case c >= 'A' && c <= 'F':
			b[i] = c + 'a' - 'A'
		default:
			return "", false
		}
	}
	return string(b[:]), true
}

// canonFloat canonicalizes a float of the given bit size.
func canonFloat(x float64, bits int) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "infinity"
	case math.IsInf(x, -1):
		return "-infinity"
	}
	n, _ := canonDecimal(strconv.FormatFloat(x, 'g', -1, bits))
	return n
}

// maxIntDigits is the longest integer written exactly; longer ones, and all
// fractions, go through float64.
const maxIntDigits = 40

// canonDecimal canonicalizes a decimal number (see [RowHash]); false when
// s is not one, or its exponent is absurdly large.
func canonDecimal(s string) (string, bool) {
	neg, m, e, ok := parseDecimal(s)
	if !ok {
		return "", false
	}
	if n, ok := exactInt(neg, m, e); ok {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || f == 0 {
		// Beyond float64 (an overflow, or an underflow since m is not zero
		// here): the exact number, in scientific form.
		out := m[:1]
		if len(m) > 1 {
			out += "." + m[1:]
		}
		out += "e" + strconv.Itoa(e+len(m)-1)
		if neg {
			out = "-" + out
		}
		return out, true
	}
	g := strconv.FormatFloat(f, 'g', -1, 64)
	if neg2, m2, e2, ok := parseDecimal(g); ok {
		if n, ok := exactInt(neg2, m2, e2); ok {
			return n, true
		}
	}
	return strings.ToLower(g), true
}

// exactInt writes m×10^e in decimal when it is an integer of at most
// maxIntDigits digits.
func exactInt(neg bool, m string, e int) (string, bool) {
	if m == "" {
		return "0", true
	}
	if e < 0 || len(m)+e > maxIntDigits {
		return "", false
	}
	out := m + strings.Repeat("0", e)
	if neg {
		out = "-" + out
	}
	return out, true
}

// parseDecimal reads [+-] digits [. digits] [e [+-] digits] (or a fraction
// alone: .5) as the value ±m×10^e, m without leading or trailing zeros
// ("" for zero).
func parseDecimal(s string) (neg bool, m string, e int, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[start:i]
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fs:i]
	}
	if intPart == "" && frac == "" {
		return false, "", 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		es := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ds := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == ds || i-ds > 9 {
			return false, "", 0, false
		}
		e, _ = strconv.Atoi(s[es:i])
	}
	if i != len(s) {
		return false, "", 0, false
	}
	m = strings.TrimLeft(intPart+frac, "0")
	e -= len(frac)
	for len(m) > 0 && m[len(m)-1] == '0' {
		m = m[:len(m)-1]
		e++
	}
	if m == "" {
		neg, e = false, 0
	}
	return neg, m, e, true
}
