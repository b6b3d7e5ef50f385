package keying

import (
	"strings"
	"testing"
)

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func TestLayoutKeys(t *testing.T) {
	const identity = "pgx dbname=app host=h:5432 user=bob"
	l := NewLayout("app", identity)
	st := Analyze("select * from users where id = $1")
	args := hashOf(t, int64(42))
	keys := map[string]string{
		"entry":  l.Entry(st, args),
		"token":  l.Token("users"),
		"odd":    l.Token(`weird "table"`),
		"epoch":  l.Epoch(),
		"prefix": l.Prefix(),
	}
	const db8 = "ae9116abaf25d2bc" // printf %s "$identity" | sha256sum | cut -c1-16
	want := map[string]string{
		"token":  "app:t:" + db8 + ":users",
		"epoch":  "app:e:" + db8,
		"prefix": "app:",
	}
	for name, w := range want {
		if keys[name] != w {
			t.Errorf("%s key = %q, want %q", name, keys[name], w)
		}
	}
	if prefix := "app:q:" + db8 + ":" + st.Fingerprint[:16] + ":"; !strings.HasPrefix(keys["entry"], prefix) || len(keys["entry"]) != len(prefix)+32 {
		t.Errorf("entry key = %q, want %q and 32 hex digits", keys["entry"], prefix)
	}
	if !strings.HasPrefix(keys["odd"], "app:t:"+db8+":#") {
		t.Errorf("odd table key = %q, want a hashed name", keys["odd"])
	}
	for name, k := range keys {
		if !printable(k) || !strings.HasPrefix(k, l.Prefix()) || strings.Contains(k, "bob") {
			t.Errorf("%s key %q: want printable ASCII under %q without identity text", name, k, l.Prefix())
		}
	}
	if l.Namespace() != "app" {
		t.Errorf("Namespace() = %q, want %q", l.Namespace(), "app")
	}
}

func TestLayoutEntryCoversEverything(t *testing.T) {
	l := NewLayout("ns", "db1")
	st := Analyze("select * from t where a = $1")
	base := l.Entry(st, hashOf(t, "x"))
	variants := map[string]string{
		"identity":  NewLayout("ns", "db2").Entry(st, hashOf(t, "x")),
		"namespace": NewLayout("ns2", "db1").Entry(st, hashOf(t, "x")),
		"args":      l.Entry(st, hashOf(t, "y")),
		"statement": l.Entry(Analyze("select * from t where a = $1 limit 1"), hashOf(t, "x")),
	}
	for name, k := range variants {
		if k == base {
			t.Errorf("changing the %s kept the entry key %q", name, k)
		}
	}
	same := l.Entry(Analyze("SELECT *\nFROM t WHERE a=$1 -- c"), hashOf(t, "x"))
	if same != base {
		t.Errorf("reformatted statement: key %q, want %q", same, base)
	}
	manual := &Statement{Normalized: st.Normalized}
	if got := l.Entry(manual, hashOf(t, "x")); got != base {
		t.Errorf("Statement not made by Analyze: key %q, want %q", got, base)
	}
}

func TestLayoutToken(t *testing.T) {
	l := NewLayout("", "db")
	tests := []struct {
		table string
		plain bool
	}{
		{"users", true}, {"USERS", true}, {"user_2", true},
		{"my table", false}, {"a:b", false}, {"", false}, {"été", false},
		{strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			k := l.Token(tt.table)
			name := k[strings.LastIndexByte(k, ':')+1:]
			if got := name == strings.ToLower(tt.table); got != tt.plain {
				t.Errorf("Token(%q) = %q, plain name %v, want %v", tt.table, k, got, tt.plain)
			}
			if !printable(k) || !strings.HasPrefix(k, DefaultNamespace+":t:") {
				t.Errorf("Token(%q) = %q, want printable under %q", tt.table, k, DefaultNamespace)
			}
		})
	}
	if l.Token("my table") == l.Token("my  table") {
		t.Error("distinct odd names share a token key")
	}
}

func TestLayoutNamespaceEscaped(t *testing.T) {
	l := NewLayout("a b%\x00", "db")
	if got, want := l.Namespace(), "a%20b%25%00"; got != want {
		t.Errorf("Namespace() = %q, want %q", got, want)
	}
}
