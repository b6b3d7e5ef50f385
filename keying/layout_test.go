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

func TestLayoutCacheKeys(t *testing.T) {
	const db8 = "ae9116abaf25d2bc" // as in TestLayoutKeys
	l := NewLayout("app", "pgx dbname=app host=h:5432 user=bob")
	entry := l.Entry(Analyze("select * from users where id = $1"), hashOf(t, int64(42)))
	tests := []struct {
		name, got, want string
	}{
		{"database", l.Database(), db8},
		{"lease", l.Lease(entry), "app:l:" + entry[len("app:"):]},
		{"hot", l.Hot("users"), "app:h:" + db8 + ":users"},
		{"hot odd", l.Hot("a:b*"), "app:h:" + db8 + ":a%3ab%2a"},
		{"hot queries", l.HotQueries("a:b*"), "app:hq:" + db8 + ":a%3ab%2a"},
		{"rule index", l.RuleIndex("users", 1234), "app:k:" + db8 + ":users:1234"},
		{"rule index odd", l.RuleIndex("rule 1", 0), "app:k:" + db8 + ":rule%201:0"},
		{"kind prefix", l.KindPrefix(KeyHot), "app:h:"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestLayoutScopedByDatabase: two databases of one namespace have their own hot sets, rule indexes and
// leases, and Parse tells them apart.
func TestLayoutScopedByDatabase(t *testing.T) {
	a, b := NewLayout("app", "db a"), NewLayout("app", "db b")
	st := Analyze("select 1")
	keys := func(l Layout) []string {
		return []string{l.Hot("users"), l.RuleIndex("users", 7), l.Lease(l.Entry(st, Hash{}))}
	}
	ka, kb := keys(a), keys(b)
	for i := range ka {
		if ka[i] == kb[i] {
			t.Errorf("two databases share key %q", ka[i])
		}
		for l, k := range map[Layout]string{a: ka[i], b: kb[i]} {
			if got, ok := a.Parse(k); !ok || got.Database != l.Database() {
				t.Errorf("Parse(%q) = %+v, %v; want database %s", k, got, ok, l.Database())
			}
		}
	}
}

// TestLayoutRuleNames: rule names holding ":", glob characters, escapes, hash tags or nothing give
// distinct keys, printable, whose rule part holds none of those characters, and Parse returns them.
func TestLayoutRuleNames(t *testing.T) {
	l := NewLayout("app", "db")
	names := []string{"", "a", "a:1", "a:12", "a:1:2", "a1", "a*", "a?", "[a]", `a\`, "a%3a", "a%", "%", "{x}", "rule 1",
		"été", "a\x00", "A", "a.b-c_d", "1", "a:", ":1"}
	seen := make(map[string]string)
	for _, name := range names {
		for _, k := range []string{l.Hot(name), l.RuleIndex(name, 0), l.RuleIndex(name, 1), l.RuleIndex(name, 12)} {
			if other, dup := seen[k]; dup {
				t.Errorf("key %q for rules %q and %q", k, other, name)
			}
			seen[k] = name
		}
		hot := l.Hot(name)
		part := hot[len(l.KindPrefix(KeyHot))+len(l.Database())+1:]
		if !printable(hot) || strings.ContainsAny(part, ":*?[]\\{}") {
			t.Errorf("Hot(%q) = %q: want printable, the rule part without ':', glob characters or braces", name, hot)
		}
		if got, ok := l.Parse(hot); !ok || got != (KeyName{Kind: KeyHot, Database: l.Database(), Rule: name}) {
			t.Errorf("Parse(Hot(%q)) = %+v, %v", name, got, ok)
		}
		if got, ok := l.Parse(l.HotQueries(name)); !ok || got != (KeyName{Kind: KeyHotQueries, Database: l.Database(), Rule: name}) {
			t.Errorf("Parse(HotQueries(%q)) = %+v, %v", name, got, ok)
		}
		idx := l.RuleIndex(name, 42)
		if got, ok := l.Parse(idx); !ok || got != (KeyName{Kind: KeyRuleIndex, Database: l.Database(), Rule: name, Bucket: 42}) {
			t.Errorf("Parse(RuleIndex(%q, 42)) = %+v, %v", name, got, ok)
		}
	}
}

// TestLayoutParse: every key a Layout builds parses as its kind and database; keys of another or a
// nested namespace, and rule parts or buckets Layout does not write, do not parse.
func TestLayoutParse(t *testing.T) {
	l := NewLayout("app", "db")
	db := l.Database()
	st := Analyze("select * from users where id = $1")
	row, _ := RowHash("users", []string{"id"}, []any{int64(7)})
	rowEntry := l.RowEntry(l.RowToken(row), st, Hash{})
	entries := NewLayout("app", "db\x00session") // the caching layer keys entries by more than the database
	good := []struct {
		key  string
		kind KeyKind
		db   string
	}{
		{l.Entry(st, Hash{}), KeyEntry, db},
		{l.Token("users"), KeyToken, db},
		{l.KeyedToken("users", []string{"id"}), KeyToken, db},
		{l.Epoch(), KeyEpoch, db},
		{l.Log(), KeyLog, db},
		{l.Live(), KeyLive, db},
		{l.Generation(), KeyGeneration, db},
		{l.RowToken(row), KeyRow, db},
		{rowEntry, KeyRow, db},
		{l.Keysets("users"), KeyKeysets, db},
		{l.Lease(rowEntry), KeyLease, db},
		{l.Lease(entries.Entry(st, Hash{})), KeyLease, entries.Database()},
		{l.Hot("r"), KeyHot, db},
		{l.HotQueries("r"), KeyHotQueries, db},
		{l.RuleIndex("r", 3), KeyRuleIndex, db},
		{l.StatsIndex(), KeyStats, db},
		{l.Stats(DigestOf("select 1").Fingerprint), KeyStats, db},
		{l.Stats(StatsOverflow), KeyStats, db},
		{l.StatsWrites(), KeyStats, db},
	}
	for _, tt := range good {
		got, ok := l.Parse(tt.key)
		if !ok || got.Kind != tt.kind || got.Database != tt.db {
			t.Errorf("Parse(%q) = %+v, %v; want kind %q, database %s", tt.key, got, ok, tt.kind, tt.db)
		}
		if !strings.HasPrefix(tt.key, l.KindPrefix(tt.kind)) {
			t.Errorf("key %q does not start with KindPrefix(%q) = %q", tt.key, tt.kind, l.KindPrefix(tt.kind))
		}
	}
	bad := []string{
		"app2:e:" + db,                   // another namespace
		"app:x:e:" + db,                  // a nested namespace
		NewLayout("app:x", "db").Epoch(), // the same
		"app:z:" + db,                    // unknown kind
		"app:e:" + strings.ToUpper(db),   // not lower-case hex
		"app:e:" + db[:15],
		"app:e",
		"app:l:t:" + db + ":users", // a lease of something not an entry
		"app:h:" + db,              // no rule part
		"app:h:" + db + ":a:b",     // ":" in the rule part
		"app:h:" + db + ":a*",
		"app:h:" + db + ":%61", // a needless escape
		"app:h:" + db + ":%3A", // upper-case hex
		"app:h:" + db + ":%3",
		"app:k:" + db + ":r", // no bucket
		"app:k:" + db + ":r:",
		"app:k:" + db + ":r:01",
		"app:k:" + db + ":r:-1",
		"app:k:" + db + ":r:1x",
		"app:qs:" + db + ":0123",             // not a digest
		"app:qs:" + db + ":0123456789ABCDEF", // not lower-case hex
		"app:qs:" + db + ":w:x",
	}
	for _, k := range bad {
		if got, ok := l.Parse(k); ok {
			t.Errorf("Parse(%q) = %+v, true; want false", k, got)
		}
	}
}

// FuzzLayoutRule: every rule name gets a hot set and rule index that parse back to it, and Parse
// accepts only the keys Hot and RuleIndex write.
func FuzzLayoutRule(f *testing.F) {
	for _, s := range []string{"", "users", "a:1", "a*", "[a]", "%", "%3a", "{x}", "rule 1", "é"} {
		f.Add(s, int64(5))
	}
	l := NewLayout("app", "db")
	f.Fuzz(func(t *testing.T, rule string, bucket int64) {
		if bucket < 0 {
			bucket = -(bucket + 1)
		}
		k := l.RuleIndex(rule, bucket)
		if got, ok := l.Parse(k); !ok || got.Rule != rule || got.Bucket != bucket {
			t.Fatalf("Parse(RuleIndex(%q, %d)) = %+v, %v", rule, bucket, got, ok)
		}
		if got, ok := l.Parse(l.Hot(rule)); !ok || got.Rule != rule {
			t.Fatalf("Parse(Hot(%q)) = %+v, %v", rule, got, ok)
		}
		// rule read as the rest of a key: it parses only if it is exactly what Hot writes.
		raw := l.KindPrefix(KeyHot) + l.Database() + ":" + rule
		if got, ok := l.Parse(raw); ok && l.Hot(got.Rule) != raw {
			t.Fatalf("Parse(%q) = %+v, but Hot(%q) = %q", raw, got, got.Rule, l.Hot(got.Rule))
		}
	})
}
