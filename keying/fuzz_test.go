package keying

import (
	"database/sql/driver"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzAnalyze checks that the lexer's tokens are disjoint spans of the text, that Analyze never panics, that normalizing twice
// changes nothing, and that whitespace and comments added between tokens
// keep the normalized text and the fingerprint. It checks the invariants of
// Pins and Lookup too, and that reformatting keeps what they find.
func FuzzAnalyze(f *testing.F) {
	for _, c := range readGolden(f, "../testdata/keying/analyze.txt") {
		f.Add(c.sql)
	}
	for _, c := range readGolden(f, pinsGolden) {
		f.Add(c.sql)
	}
	for _, c := range readGolden(f, sessionGolden) {
		f.Add(c.sql)
	}
	f.Fuzz(func(t *testing.T, query string) {
		checkTokens(t, query)
		st := Analyze(query)
		checkRowShapes(t, query, st)
		if formatStable(query) {
			spaced := Analyze(spread(query))
			lk1, r1 := st.Lookup()
			lk2, r2 := spaced.Lookup()
			if !reflect.DeepEqual(st.Session, spaced.Session) || st.ChangesSession != spaced.ChangesSession {
				t.Fatalf("padding changed the session changes:\nquery  %q\nsession %v / %v", query, st.Session, spaced.Session)
			}
			if !reflect.DeepEqual(st.Pins(), spaced.Pins()) || !reflect.DeepEqual(lk1, lk2) || r1 != r2 {
				t.Fatalf("padding changed pins or lookup:\nquery  %q\npins   %+v / %+v\nlookup %+v %q / %+v %q",
					query, st.Pins(), spaced.Pins(), lk1, r1, lk2, r2)
			}
		}
		again := Analyze(st.Normalized)
		if again.Normalized != st.Normalized {
			t.Fatalf("not idempotent:\nquery %q\nonce  %q\ntwice %q", query, st.Normalized, again.Normalized)
		}
		if st.Cacheable && st.Kind != KindRead {
			t.Fatalf("%q: cacheable %v statement", query, st.Kind)
		}
		if st.Kind == KindOther && !st.AllTables {
			t.Fatalf("%q: KindOther without AllTables", query)
		}
		if spaced := spread(query); Analyze(spaced).Fingerprint != st.Fingerprint {
			t.Fatalf("padding changed the fingerprint:\nquery  %q\npadded %q\nnorm   %q\nnorm'  %q",
				query, spaced, st.Normalized, Analyze(spaced).Normalized)
		}
	})
}

// spread inserts whitespace and a comment at every token boundary of query.
// It leaves unterminated text alone, since there the boundaries are unclear.
func spread(query string) string {
	lx := lex(query)
	if lx.unterminated || lx.oddComment {
		return query
	}
	var b strings.Builder
	prev := 0
	for _, t := range lx.toks {
		b.WriteString(query[prev:t.start])
		b.WriteString(" \n/* c */\t")
		b.WriteString(query[t.start:t.end])
		prev = t.end
	}
	b.WriteString(query[prev:])
	return b.String()
}

// FuzzHashArgs checks that changing any one argument changes the hash.
func FuzzHashArgs(f *testing.F) {
	f.Add("a", int64(1), 1.5, true, []byte("x"), "b", int64(2))
	f.Add("", int64(0), 0.0, false, []byte{}, "", int64(0))
	f.Add("0", int64(-1), math.Inf(1), true, []byte(nil), "1", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, s string, i int64, fl float64, b bool, raw []byte, s2 string, i2 int64) {
		args := []any{s, i, fl, b, raw}
		h1, err := HashArgs(positional(args...))
		if err != nil {
			t.Fatal(err)
		}
		changed := []any{s2, i2, math.Float64frombits(math.Float64bits(fl) ^ 1), !b, append([]byte{0}, raw...)}
		for k := range args {
			if k == 0 && s2 == s || k == 1 && i2 == i {
				continue
			}
			mod := append([]any(nil), args...)
			mod[k] = changed[k]
			h2, err := HashArgs(positional(mod...))
			if err != nil {
				t.Fatal(err)
			}
			if h1 == h2 {
				t.Fatalf("changing argument %d from %#v to %#v kept hash %v", k+1, args[k], mod[k], h1)
			}
		}
		var nv []driver.NamedValue
		if h0, _ := HashArgs(nv); h0 == h1 {
			t.Fatal("no arguments and five arguments hash alike")
		}
	})
}

// FuzzRowHashSpellings checks that every spelling of one number names one
// row, and that canonical forms are fixed points.
func FuzzRowHashSpellings(f *testing.F) {
	f.Add(int64(5), 5.0, " 05 ")
	f.Add(int64(-1), 1e20, "{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}")
	f.Add(int64(math.MaxInt64), math.SmallestNonzeroFloat64, "1e400")
	f.Add(int64(0), math.Inf(-1), "Yes")
	f.Fuzz(func(t *testing.T, i int64, x float64, s string) {
		same := func(what string, a, b any) {
			t.Helper()
			ca, _ := canonical(a, 0)
			cb, _ := canonical(b, 0)
			if ca != cb {
				t.Fatalf("%s: %T %#v names %q, %T %#v names %q", what, a, a, ca, b, b, cb)
			}
		}
		same("int as text", i, strconv.FormatInt(i, 10))
		padded := " 0" + strconv.FormatUint(uint64(max(i, -i)), 10) + ".000 " // -MinInt64 overflows: FormatUint reads it right
		if i < 0 {
			padded = " -0" + padded[2:]
		} else {
			padded = " +" + padded[1:]
		}
		same("int as padded text", i, padded)
		if f := float64(i); math.Abs(f) < 1<<53 {
			same("int as float", i, f)
		}
		for _, format := range []byte{'g', 'f', 'e', 'E'} {
			same("float as text", x, strconv.FormatFloat(x, format, -1, 64))
		}
		same("float32 as text", float32(x), strconv.FormatFloat(float64(float32(x)), 'g', -1, 32))
		c := canonString(s)
		if again := canonString(c); again != c {
			t.Fatalf("canonical form of %q is %q, whose own is %q", s, c, again)
		}
		same("padded text", s, "\t"+s+" ")
	})
}
