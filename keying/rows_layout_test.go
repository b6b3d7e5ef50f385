package keying

import (
	"reflect"
	"strings"
	"testing"
)

func TestLayoutRowKeys(t *testing.T) {
	const db8 = "ae9116abaf25d2bc" // as in TestLayoutKeys
	l := NewLayout("app", "pgx dbname=app host=h:5432 user=bob")
	row, ok := RowHash("users", []string{"id"}, []any{int64(7)})
	if !ok {
		t.Fatal("RowHash not ok")
	}
	st := Analyze("select * from users where id = $1")
	args := hashOf(t, int64(7))

	tok := l.RowToken(row)
	if want := "app:r:" + db8 + ":{" + row.String() + "}"; tok != want {
		t.Errorf("RowToken = %q, want %q", tok, want)
	}
	entry := l.RowEntry(tok, st, args)
	plain := l.Entry(st, args)
	if want := tok + plain[len("app:q:"+db8):]; entry != want {
		t.Errorf("RowEntry = %q, want the row token then Entry's tail: %q", entry, want)
	}
	if l.RowEntry(tok, &Statement{Normalized: st.Normalized}, args) != entry {
		t.Error("RowEntry of a Statement not made by Analyze differs")
	}
	keyed := l.KeyedToken("users", []string{"org", "id"})
	if !strings.HasPrefix(keyed, l.Token("users")+":k:") || len(keyed) != len(l.Token("users"))+3+16 {
		t.Errorf("KeyedToken = %q, want Token, \":k:\" and 16 hex digits", keyed)
	}
	if ks := l.Keysets("users"); ks != "app:ks:"+db8+":users" {
		t.Errorf("Keysets = %q", ks)
	}
	if ks := l.Keysets(`My "Table"`); ks != "app:ks:"+db8+l.Token(`My "Table"`)[len("app:t:"+db8):] {
		t.Errorf("Keysets of an odd name = %q, want the hashed part of Token", ks)
	}
	for _, k := range []string{tok, entry, keyed, l.Keysets("users")} {
		if !printable(k) || !strings.HasPrefix(k, l.Prefix()) || strings.Contains(k, "bob") {
			t.Errorf("key %q: want printable ASCII under %q without identity text", k, l.Prefix())
		}
	}
}

// TestRowEntryShareSlot checks that a row entry's Cluster hash tag is its
// token's whatever the namespace holds, but for the case RowToken's doc
// warns about: a namespace whose first "{" is directly followed by "}".
func TestRowEntryShareSlot(t *testing.T) {
	tag := func(key string) string { // Redis Cluster: the first {…} with something inside
		if i := strings.IndexByte(key, '{'); i >= 0 {
			if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
				return key[i+1 : i+1+j]
			}
		}
		return key
	}
	st := Analyze("select * from t where id = $1")
	for _, ns := range []string{"app", "a{b}c", "{", "}{", "a{", "a{b", "}{x}"} {
		l := NewLayout(ns, "db")
		for _, v := range []any{1, "x"} {
			h, _ := RowHash("t", []string{"id"}, []any{v})
			tok := l.RowToken(h)
			entry := l.RowEntry(tok, st, Hash{byte(len(ns))})
			if !strings.HasPrefix(entry, tok) || tag(entry) != tag(tok) {
				t.Errorf("namespace %q: token %q (tag %q), entry %q (tag %q)", ns, tok, tag(tok), entry, tag(entry))
			}
		}
	}
}

func TestLayoutRowKeysDistinct(t *testing.T) {
	l := NewLayout("ns", "db")
	h1, _ := RowHash("t", []string{"id"}, []any{1})
	h2, _ := RowHash("t", []string{"id"}, []any{2})
	st := Analyze("select * from t where id = $1")
	keys := map[string]string{
		"token 1":        l.RowToken(h1),
		"token 2":        l.RowToken(h2),
		"entry 1":        l.RowEntry(l.RowToken(h1), st, hashOf(t, 1)),
		"entry 1 args 2": l.RowEntry(l.RowToken(h1), st, hashOf(t, 2)),
		"entry 2":        l.RowEntry(l.RowToken(h2), st, hashOf(t, 1)),
		"table token":    l.Token("t"),
		"keyed id":       l.KeyedToken("t", []string{"id"}),
		"keyed id,org":   l.KeyedToken("t", []string{"id", "org"}),
		"keyed org":      l.KeyedToken("t", []string{"org"}),
		"keyed table u":  l.KeyedToken("u", []string{"id"}),
		"keysets":        l.Keysets("t"),
		"other db":       NewLayout("ns", "db2").RowToken(h1),
	}
	seen := make(map[string]string)
	for name, k := range keys {
		if prev, dup := seen[k]; dup {
			t.Errorf("%s and %s share key %q", prev, name, k)
		}
		seen[k] = name
	}
	if l.KeyedToken("t", []string{"org", "id", "id"}) != keys["keyed id,org"] {
		t.Error("KeyedToken depends on the order or repetition of columns")
	}
	// A table part never holds ":", so no table's Token is a keyed token.
	for _, table := range []string{"t:k", "t:k:" + keys["keyed id"][strings.LastIndexByte(keys["keyed id"], ':')+1:]} {
		if tok := l.Token(table); tok == keys["keyed id"] || strings.Contains(tok[len("ns:t:"):], ":k:") {
			t.Errorf("Token(%q) = %q looks like a keyed token", table, tok)
		}
	}
}

func TestKeysetName(t *testing.T) {
	tests := []struct {
		cols []string
		name string
		back []string
	}{
		{[]string{"id"}, "id", []string{"id"}},
		{[]string{"org", "id"}, "id,org", []string{"id", "org"}},
		{[]string{"b", "a", "b"}, "a,b", []string{"a", "b"}},
		{[]string{"a,b", "c%d"}, "a%2Cb,c%25d", []string{"a,b", "c%d"}},
		{[]string{"My Col", "été"}, "My%20Col,%C3%A9t%C3%A9", []string{"My Col", "été"}},
		{[]string{"%2C"}, "%252C", []string{"%2C"}},
	}
	for _, tt := range tests {
		name := KeysetName(tt.cols)
		if name != tt.name || !printable(name) {
			t.Errorf("KeysetName(%q) = %q, want %q", tt.cols, name, tt.name)
		}
		back, ok := ParseKeysetName(name)
		if !ok || !reflect.DeepEqual(back, tt.back) {
			t.Errorf("ParseKeysetName(%q) = %q, %v; want %q", name, back, ok, tt.back)
		}
	}
	for _, bad := range []string{"", ",", "a,", ",a", "b,a", "a,a", "a%", "a%2", "a%zz", "a%2c", "a%41", "a b", "é", "%"} {
		if cols, ok := ParseKeysetName(bad); ok {
			t.Errorf("ParseKeysetName(%q) = %q, true; want false", bad, cols)
		}
	}
}
