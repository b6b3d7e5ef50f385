package keying

import (
	"regexp"
	"strings"
	"testing"
)

// maxPatternMarkers bounds the markers of a digest whose pattern the checks compile and match.
const maxPatternMarkers = 32

func TestDigestOf(t *testing.T) {
	tests := []struct {
		query, want string
		exact       bool
	}{
		{"SELECT * FROM users WHERE id = $1", "select * from users where id = $1", true},
		{"SELECT * FROM users WHERE id = 7", "select * from users where id = ?", false},
		{"select * from users where name = 'ann' and x = E'a\\'b'", "select * from users where name = ? and x = ?", false},
		{"select * from t where a in (1, 2, 3)", "select * from t where a in (?)", false},
		{"select * from t where a not in ('x')", "select * from t where a not in (?)", false},
		{"select * from t where a in ($1, $2)", "select * from t where a in (?)", false},
		{"select * from t where a in (select b from u where c = 1)", "select * from t where a in (select b from u where c = ?)", false},
		{"select * from t where a = -5 and b = c - 5", "select * from t where a = ? and b = c - ?", false},
		{"select x::int, '1 day'::interval from t limit 10", "select x::int, ?::interval from t limit ?", false},
		{"select $q$ it's $q$", "select ?", false},
		{"select :Name, @Name, ?1, ?", "select :Name, @Name, ?1, ?", true},
		{"select 1; SELECT 2;;", "select ?; select ?", false},
		{"select f(1, 'a') from t where a in (1, b)", "select f(?, ?) from t where a in (?, b)", false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			d := DigestOf(tt.query)
			if d.Text != tt.want || d.Exact != tt.exact {
				t.Errorf("DigestOf = %q exact %v, want %q exact %v", d.Text, d.Exact, tt.want, tt.exact)
			}
			if len(d.Fingerprint) != 16 {
				t.Errorf("Fingerprint %q: want 16 hex digits", d.Fingerprint)
			}
		})
	}
}

// TestDigestShared checks that what pg_stat_statements and ProxySQL count as one query is one digest,
// while cache keys keep the literals apart.
func TestDigestShared(t *testing.T) {
	groups := [][]string{
		{"select * from users where id = 7", "SELECT * FROM users WHERE id=8", "select * from users where id = -1e3"},
		{"select * from t where a in (1)", "select * from t where a in (1, 2, 3, 4, 5)", "select * from t where a in ('x', 'y')"},
		{"select * from t where a = 'x' /* c */", "select *\nfrom t where a = 'yy'"},
	}
	for _, g := range groups {
		first := DigestOf(g[0])
		for _, q := range g[1:] {
			if d := DigestOf(q); d != first {
				t.Errorf("%q: digest %+v, want %+v (of %q)", q, d, first, g[0])
			}
			if Analyze(q).Fingerprint == Analyze(g[0]).Fingerprint {
				t.Errorf("%q and %q share a statement fingerprint: cache keys would too", q, g[0])
			}
		}
	}
	if DigestOf("select a from t where b = 1").Fingerprint == DigestOf("select a from t where c = 1").Fingerprint {
		t.Error("different columns share a digest")
	}
}

// TestDigestPatternGolden checks, on every golden statement, the properties FuzzDigest checks.
func TestDigestPatternGolden(t *testing.T) {
	for _, file := range []string{"../testdata/keying/analyze.txt", pinsGolden, sessionGolden} {
		for _, c := range readGolden(t, file) {
			checkDigest(t, c.sql)
		}
	}
}

// checkDigest checks that the digest of query is stable under its own text and under reformatting,
// and that its pattern matches query's normalized text.
//
// Texts where "[" after a keyword or an operator holds a quote are left out: no dialect accepts them
// (SQLite reads such a bracket as a name, PostgreSQL as a subscript of nothing), and with the quoted
// literal replaced the digest's "[?]" lexes as a bracketed name.
func checkDigest(t *testing.T, query string) {
	t.Helper()
	if oddBracket(lex(query).toks) {
		DigestOf(query) // still must not panic
		return
	}
	d := DigestOf(query)
	if again := DigestOf(d.Text); again.Text != d.Text || again.Fingerprint != d.Fingerprint {
		t.Fatalf("not idempotent:\nquery %q\nonce  %q\ntwice %q", query, d.Text, again.Text)
	}
	if d.Exact != (d.Text == Analyze(query).Normalized) {
		t.Fatalf("%q: Exact %v, text %q, normalized %q", query, d.Exact, d.Text, Analyze(query).Normalized)
	}
	lx := lex(query)
	if lx.unterminated || lx.oddComment {
		return
	}
	if spaced := spread(query); DigestOf(spaced) != d {
		t.Fatalf("padding changed the digest:\nquery %q\n%q / %q", query, d.Text, DigestOf(spaced).Text)
	}
	if strings.Count(d.Text, "?") > maxPatternMarkers {
		return // RE2 matches in time linear in text × pattern: a huge pattern takes too long to check
	}
	re, err := regexp.Compile(DigestPattern(d.Text))
	if err != nil {
		t.Fatalf("%q: pattern of %q: %v", query, d.Text, err)
	}
	if norm := Analyze(query).Normalized; !re.MatchString(norm) {
		t.Fatalf("pattern %s of digest %q does not match %q", re, d.Text, norm)
	}
}

// FuzzDigest checks that DigestOf never panics, is idempotent and ignores formatting, and that the
// pattern of a digest matches the normalized text of the statement it came from.
func FuzzDigest(f *testing.F) {
	for _, file := range []string{"../testdata/keying/analyze.txt", pinsGolden, sessionGolden} {
		for _, c := range readGolden(f, file) {
			f.Add(c.sql)
		}
	}
	f.Add("select * from t where a in (1, -2, 'x', $1, :n) and b = - 3.5e-2")
	f.Fuzz(func(t *testing.T, query string) { checkDigest(t, query) })
}

// oddBracket reports whether toks hold a "[" that is not a subscript yet was not lexed as a name.
func oddBracket(toks []token) bool {
	for i, t := range toks {
		if t.isPunct("[") && (i == 0 || !operand(toks[i-1])) {
			return true
		}
	}
	return false
}
