package keying

import (
	"strings"
	"testing"
)

// checkTokens fails t unless the tokens of src are in order, never overlap, and each one's text is the
// source it spans (lower-cased for a word): what normalization, Pins, Lookup and dialectSafe rely on.
func checkTokens(t *testing.T, src string) {
	t.Helper()
	prev := 0
	for i, tk := range lex(src).toks {
		if tk.start < prev || tk.end <= tk.start || tk.end > len(src) {
			t.Fatalf("%q: token %d %q spans [%d:%d] after a token ending at %d", src, i, tk.text, tk.start, tk.end, prev)
		}
		want := src[tk.start:tk.end]
		if tk.kind == tWord {
			want = lowerASCII(want)
		}
		if tk.text != want {
			t.Fatalf("%q: token %d is %q but spans %q", src, i, tk.text, want)
		}
		prev = tk.end
	}
}

// TestOperatorRuns is the regression test of issue 8, item 9: a run of only + and - (bal+-1) was
// split into tokens that all ended at the end of the run, and Pins and Lookup then sliced the text
// backwards and panicked. Every run of up to three operator bytes, between every kind of operand and
// in every statement shape that Pins and Lookup parse, must lex into disjoint tokens and analyse
// without a panic.
func TestOperatorRuns(t *testing.T) {
	const ops = "+-*/<>=~!@#%^&|:"
	var runs []string
	for _, a := range ops {
		runs = append(runs, string(a))
		for _, b := range ops {
			runs = append(runs, string(a)+string(b))
			for _, c := range ops {
				runs = append(runs, string(a)+string(b)+string(c))
			}
		}
	}
	shapes := []string{
		"UPDATE acct SET bal = bal%s1 WHERE id = 1",
		"UPDATE acct SET bal = 1 WHERE id = 1%s2",
		"DELETE FROM acct WHERE id = $1%s$2",
		"SELECT * FROM acct WHERE id = x%s'1'",
		"SELECT * FROM acct WHERE id = ?%s(1) AND k = 2",
		"INSERT INTO acct (id, bal) VALUES (1, 2%s3)",
	}
	for _, shape := range shapes {
		for _, run := range runs {
			q := strings.Replace(shape, "%s", run, 1)
			checkTokens(t, q)
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%q: panic: %v", q, r)
					}
				}()
				st := Analyze(q)
				st.Pins()
				st.Lookup()
				Analyze(st.Normalized)
			}()
		}
	}
}

func TestOperatorRunTokens(t *testing.T) {
	tests := []struct{ src, want string }{
		{"bal+-1", "bal + - 1"},
		{"1-+-2", "1 - + - 2"},
		{"x+--1", "x +"},
		{"a<=-b", "a <= - b"},
		{"a*+-b", "a * + - b"},
		{"a@-b", "a @- b"}, // a run holding @ keeps its trailing -
		{"a||-b", "a ||- b"},
	}
	for _, tt := range tests {
		checkTokens(t, tt.src)
		var texts []string
		for _, tk := range lex(tt.src).toks {
			texts = append(texts, tk.text)
		}
		if got := strings.Join(texts, " "); got != tt.want {
			t.Errorf("lex(%q) = %s, want %s", tt.src, got, tt.want)
		}
	}
}
