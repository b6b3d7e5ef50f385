package cachedsql_test

import (
	"cmp"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

// rulesTestdata holds the good and bad rule files.
const rulesTestdata = "testdata/rules"

// ruleWant is what a test expects of one rule of a set.
type ruleWant struct {
	rule   cachedsql.Rule
	String string
}

// checkRules compares rs.All() with want, field by field.
func checkRules(t *testing.T, rs *cachedsql.Rules, want []ruleWant) {
	t.Helper()
	got := rs.All()
	if len(got) != len(want) {
		t.Fatalf("got %d rules %v, want %d", len(got), got, len(want))
	}
	for i, g := range got {
		w := want[i].rule
		if g.Name != w.Name || g.TTL != w.TTL || g.SkipEmpty != w.SkipEmpty ||
			g.MaxRows != w.MaxRows || g.MaxBytes != w.MaxBytes || g.Disabled != w.Disabled {
			t.Errorf("rule %d: got %+v, want %+v", i, g, w)
		}
		w = withStampedeDefaults(w)
		if g.NoLease != w.NoLease || g.LockWait != w.LockWait || g.Beta != w.Beta ||
			g.StaleWhileRevalidate != w.StaleWhileRevalidate || g.StaleIfError != w.StaleIfError ||
			g.RefreshAhead != w.RefreshAhead || g.HotHits != w.HotHits {
			t.Errorf("rule %d stampede settings: got %+v, want %+v", i, g, w)
		}
		if !slices.Equal(g.Key, w.Key) || g.WriteThrough != w.WriteThrough ||
			g.WriteThroughLimit != cmp.Or(w.WriteThroughLimit, 16) {
			t.Errorf("rule %d row settings: got %+v, want %+v", i, g, w)
		}
		if !reflect.DeepEqual(g.Match, w.Match) {
			t.Errorf("rule %d match: got %+v, want %+v", i, g.Match, w.Match)
		}
		if s := g.String(); want[i].String != "" && s != want[i].String {
			t.Errorf("rule %d String: got %q, want %q", i, s, want[i].String)
		}
	}
}

// withStampedeDefaults gives the zero stampede settings of a wanted rule their documented defaults:
// lock wait 1s, beta 1, 8 hot hits.
func withStampedeDefaults(r cachedsql.Rule) cachedsql.Rule {
	if r.LockWait == 0 {
		r.LockWait = time.Second
	}
	if r.Beta == 0 {
		r.Beta = 1
	}
	if r.HotHits == 0 {
		r.HotHits = 8
	}
	return r
}

func TestLoadRulesGood(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(rulesTestdata, "good")
	rs, err := cachedsql.LoadRules(dir)
	if err != nil {
		t.Fatalf("LoadRules(%q): %v", dir, err)
	}
	at := func(file string, line int) string {
		return filepath.Join(dir, file) + ":" + strconv.Itoa(line)
	}
	checkRules(t, rs, []ruleWant{
		{cachedsql.Rule{Name: "get-user", Match: cachedsql.Match{QueryName: "GetUser"},
			TTL: 5 * time.Minute, MaxRows: 10000, MaxBytes: 512 << 10}, "get-user (" + at("10-app.yaml", 7) + ")"},
		{cachedsql.Rule{Name: "no-orders", Match: cachedsql.Match{Regexp: "^select .* from orders"},
			TTL: 2 * time.Minute, MaxRows: 10000, MaxBytes: 512 << 10, Disabled: true}, "no-orders (" + at("10-app.yaml", 11) + ")"},
		{cachedsql.Rule{Name: "products", Match: cachedsql.Match{TablesAny: []string{"products", "Catalog.Categories"}},
			TTL: 30 * time.Second, SkipEmpty: true, MaxRows: 10000, MaxBytes: 512 << 10}, ""},
		// In a file, lock_wait: 0 and beta: 0 mean off (-1: zero means the default in Go).
		{cachedsql.Rule{Name: "catalog", Match: cachedsql.Match{TablesAny: []string{"catalog"}},
			TTL: time.Minute, MaxRows: 10000, MaxBytes: 1 << 20, NoLease: true, LockWait: -1, Beta: -1,
			StaleWhileRevalidate: 30 * time.Second, StaleIfError: 10 * time.Minute, RefreshAhead: true, HotHits: 20},
			"catalog (" + at("40-stampede.yaml", 7) + ")"},
		{cachedsql.Rule{Name: "prices", Match: cachedsql.Match{QueryName: "GetPrice"},
			TTL: time.Minute, MaxRows: 10000, MaxBytes: 1 << 20, LockWait: 250 * time.Millisecond, Beta: 2.5,
			StaleIfError: time.Hour}, "prices (" + at("40-stampede.yaml", 16) + ")"},
		{cachedsql.Rule{Name: "account", Match: cachedsql.Match{SQL: "SELECT id, owner, balance FROM accounts WHERE id = $1"},
			Key: []string{"id"}, WriteThrough: true, TTL: time.Minute, SkipEmpty: true, MaxRows: 10000, MaxBytes: 1 << 20},
			"account (" + at("50-rows.yaml", 4) + ")"},
		{cachedsql.Rule{Name: "membership", Match: cachedsql.Match{SQL: "SELECT role FROM members\nWHERE org_id = $1 AND user_id = $2\n"},
			Key: []string{"org_id", "user_id"}, TTL: 10 * time.Minute, SkipEmpty: true, MaxRows: 10000, MaxBytes: 1 << 20}, ""},
		{cachedsql.Rule{Name: "prices-list", Match: cachedsql.Match{TablesAny: []string{"prices"}},
			WriteThrough: true, WriteThroughLimit: 8, TTL: time.Minute, MaxRows: 10000, MaxBytes: 1 << 20}, ""},
		{cachedsql.Rule{Name: "daily-sales", Match: cachedsql.Match{TablesAll: []string{"orders", "order_items"}, Regexp: "group by"},
			TTL: time.Hour, MaxRows: -1, MaxBytes: 8e6}, "daily-sales (" + at("reports/20-reports.yaml", 3) + ")"},
		{cachedsql.Rule{Name: "top-customers", Match: cachedsql.Match{Fingerprint: "0123456789abcdef0123456789abcdef"},
			TTL: time.Minute, MaxRows: 100, MaxBytes: -1}, "top-customers (" + at("reports/30-top.yml", 5) + ")"},
		{cachedsql.Rule{Name: "everything-else", Match: cachedsql.Match{Default: true},
			TTL: 10 * time.Second, MaxRows: 10000, MaxBytes: 65536}, ""},
	})
}

func TestLoadRulesOrder(t *testing.T) {
	t.Parallel()
	good := filepath.Join(rulesTestdata, "good")
	deflt := filepath.Join(good, "zz-default.yaml")
	app := filepath.Join(good, "10-app.yaml")

	rs, err := cachedsql.LoadRules(app, deflt)
	if err != nil {
		t.Fatalf("LoadRules(app, default): %v", err)
	}
	var names []string
	for _, r := range rs.All() {
		names = append(names, r.Name)
	}
	if want := []string{"get-user", "no-orders", "products", "everything-else"}; !reflect.DeepEqual(names, want) {
		t.Errorf("got rules %q, want %q", names, want)
	}

	// Files keep the order given, so a default rule in an earlier file hides
	// the later files' rules.
	_, err = cachedsql.LoadRules(deflt, app)
	want := app + `:7:5: unreachable: default rule "everything-else" (` + deflt + `:3) matches every read first`
	if err == nil || err.Error() != want {
		t.Errorf("LoadRules(default, app): got error %v, want %s", err, want)
	}
}

func TestLoadRulesFolders(t *testing.T) {
	t.Parallel()
	rule := "version: 1\nrules:\n  - name: %s\n    match: {query_name: Q}\n"
	tests := []struct {
		name    string
		files   map[string]string // relative path → contents ("%s" gets a name)
		want    []string          // rule names
		wantErr string            // with the folder's path replaced by "DIR"
	}{
		{
			name:  "recursive lexical order",
			files: map[string]string{"b.yml": "b", "a/z.yaml": "az", "a.yaml": "a0", "c.txt": "c"},
			want:  []string{"az", "a0", "b"},
		},
		{
			name:  "dot names skipped",
			files: map[string]string{".git/x.yaml": "git", ".hidden.yaml": "hidden", "r.yaml": "r"},
			want:  []string{"r"},
		},
		{
			name:    "no rule files",
			files:   map[string]string{"notes.txt": "x"},
			wantErr: "DIR: no rule files (*.yaml, *.yml) in folder",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for path, name := range tt.files {
				writeFile(t, filepath.Join(dir, path), strings.ReplaceAll(rule, "%s", name))
			}
			rs, err := cachedsql.LoadRules(dir)
			if tt.wantErr != "" {
				if err == nil || strings.ReplaceAll(err.Error(), dir, "DIR") != tt.wantErr {
					t.Fatalf("got error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadRules: %v", err)
			}
			var got []string
			for _, r := range rs.All() {
				got = append(got, r.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got rules %q, want %q", got, tt.want)
			}
		})
	}
}

// writeFile creates path, and its folders, holding data.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRulesMissing(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := cachedsql.LoadRules(missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
	if want := missing + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if _, err := cachedsql.LoadRules(); err == nil {
		t.Error("LoadRules(): got no error, want one")
	}
}

// TestLoadRulesBad loads each file or folder in testdata/rules/bad and
// compares the error with the sibling .err file. File names in messages
// are relative to the bad folder.
func TestLoadRulesBad(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(rulesTestdata, "bad")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".err" {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			path := filepath.Join(dir, e.Name())
			want, err := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".err")
			if err != nil {
				t.Fatalf("missing expected error: %v", err)
			}
			rs, err := cachedsql.LoadRules(path)
			if err == nil {
				t.Fatalf("got rules %v, want error:\n%s", rs.All(), want)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("got error:\n%s\nwant:\n%s", got, want)
			}
			checkRuleErrors(t, err)
		})
	}
}

// checkRuleErrors checks that err joins only *RuleError values.
func checkRuleErrors(t *testing.T, err error) {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("got %T, want errors joined with errors.Join", err)
	}
	for _, e := range joined.Unwrap() {
		if _, ok := e.(*cachedsql.RuleError); !ok {
			t.Errorf("got %T (%v), want *RuleError", e, e)
		}
	}
}

func TestParseRulesError(t *testing.T) {
	t.Parallel()
	data := "version: 1\nrules:\n  - name: users\n    match: {tables_any: [users]}\n    ttl: 30\n"
	_, err := cachedsql.ParseRules("cache.yaml", []byte(data))
	var re *cachedsql.RuleError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a *RuleError", err)
	}
	want := cachedsql.RuleError{File: "cache.yaml", Line: 5, Column: 10, Rule: "users",
		Msg: `ttl: bad duration "30": durations need a unit, e.g. 30s`}
	if *re != want {
		t.Errorf("got %+v, want %+v", *re, want)
	}
}

func TestRuleErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  cachedsql.RuleError
		want string
	}{
		{"position", cachedsql.RuleError{File: "a.yaml", Line: 3, Column: 7, Rule: "r", Msg: "bad"}, "a.yaml:3:7: bad"},
		{"line only", cachedsql.RuleError{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		{"file only", cachedsql.RuleError{File: "a.yaml", Msg: "no rules"}, "a.yaml: no rules"},
		{"code", cachedsql.RuleError{Rule: "users", Msg: "bad"}, `cachedsql: rule "users": bad`},
		{"code no rule", cachedsql.RuleError{Msg: "bad"}, "cachedsql: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRulesValidation(t *testing.T) {
	t.Parallel()
	users := cachedsql.Match{TablesAny: []string{"users"}}
	tests := []struct {
		name  string
		rules []cachedsql.Rule
		want  string // error text
	}{
		{"negative ttl", []cachedsql.Rule{{Name: "a", Match: users, TTL: -time.Second}},
			`cachedsql: rule "a": ttl must be positive`},
		{"beta not finite", []cachedsql.Rule{{Name: "a", Match: users, Beta: math.Inf(1)}},
			`cachedsql: rule "a": beta must be a finite number`},
		{"negative stale window", []cachedsql.Rule{{Name: "a", Match: users, StaleIfError: -time.Second}},
			`cachedsql: rule "a": stale_if_error must not be negative`},
		{"negative hot hits", []cachedsql.Rule{{Name: "a", Match: users, HotHits: -1}},
			`cachedsql: rule "a": hot_hits must not be negative`},
		{"empty match", []cachedsql.Rule{{Name: "a"}},
			`cachedsql: rule "a": empty match: give at least one condition`},
		{"default combined", []cachedsql.Rule{{Match: cachedsql.Match{Default: true, QueryName: "Q"}}},
			`cachedsql: rule "rule 1": default cannot be combined with other conditions`},
		{"bad regexp", []cachedsql.Rule{{Name: "a", Match: cachedsql.Match{Regexp: "a**"}}},
			"cachedsql: rule \"a\": bad regexp: invalid nested repetition operator: `**`"},
		{"bad fingerprint", []cachedsql.Rule{{Name: "a", Match: cachedsql.Match{Fingerprint: "abc"}}},
			`cachedsql: rule "a": fingerprint "abc" is not 32 lower-case hex digits`},
		{"empty table", []cachedsql.Rule{{Name: "a", Match: cachedsql.Match{TablesAll: []string{"users", "public."}}}},
			`cachedsql: rule "a": tables_all: bad table name "public."`},
		{"duplicate name", []cachedsql.Rule{{Name: "a", Match: users}, {Name: "a", Match: users}},
			`cachedsql: rule "a": duplicate rule name "a" (first at argument 1)`},
		{"unreachable", []cachedsql.Rule{{Match: cachedsql.Match{Default: true}}, {Match: users}, {Match: users}},
			`cachedsql: rule "rule 2": unreachable: default rule "rule 1" (argument 1) matches every read first`},
		{"all problems", []cachedsql.Rule{{Name: "a", TTL: -1}, {Name: "b", Match: cachedsql.Match{Regexp: "("}}},
			`cachedsql: rule "a": ttl must be positive` + "\n" +
				`cachedsql: rule "a": empty match: give at least one condition` + "\n" +
				"cachedsql: rule \"b\": bad regexp: missing closing ): `(`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := cachedsql.NewRules(tt.rules...)
			if err == nil {
				t.Fatalf("got rules %v, want error %s", rs.All(), tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("got error:\n%v\nwant:\n%s", err, tt.want)
			}
			var re *cachedsql.RuleError
			if !errors.As(err, &re) {
				t.Errorf("errors.As found no *RuleError in %v", err)
			}
		})
	}
}

func TestNewRulesDefaults(t *testing.T) {
	t.Parallel()
	in := []cachedsql.Rule{
		{Match: cachedsql.Match{QueryName: "GetUser"}},
		{Name: "big", Match: cachedsql.Match{TablesAll: []string{"logs"}}, TTL: time.Hour, MaxRows: -1, MaxBytes: -1},
	}
	rs, err := cachedsql.NewRules(in...)
	if err != nil {
		t.Fatal(err)
	}
	checkRules(t, rs, []ruleWant{
		{cachedsql.Rule{Name: "rule 1", Match: in[0].Match, TTL: time.Minute, MaxRows: 10000, MaxBytes: 1 << 20}, "rule 1"},
		{cachedsql.Rule{Name: "big", Match: in[1].Match, TTL: time.Hour, MaxRows: -1, MaxBytes: -1}, "big"},
	})

	// The set keeps its own copies: changing the input or All's result
	// changes nothing.
	in[1].Match.TablesAll[0] = "changed"
	rs.All()[1].Match.TablesAll[0] = "changed"
	if got := rs.All()[1].Match.TablesAll[0]; got != "logs" {
		t.Errorf("got TablesAll[0] %q after changing copies, want %q", got, "logs")
	}
}

// read returns a statement shaped as keying.Analyze reports a cacheable read.
func read(name, normalized string, tables ...string) *keying.Statement {
	return &keying.Statement{
		Query: normalized, Normalized: normalized, Name: name, Kind: keying.KindRead,
		Cacheable: true, Reads: tables, Fingerprint: "00000000000000000000000000000000",
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	rs, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "by-name", Match: cachedsql.Match{QueryName: "GetUser"}},
		cachedsql.Rule{Name: "by-fingerprint", Match: cachedsql.Match{Fingerprint: "00000000000000000000000000000000"}},
		cachedsql.Rule{Name: "no-audit", Match: cachedsql.Match{TablesAny: []string{"Audit.Log"}}, Disabled: true},
		cachedsql.Rule{Name: "any", Match: cachedsql.Match{TablesAny: []string{"products", "categories"}}},
		cachedsql.Rule{Name: "all", Match: cachedsql.Match{TablesAll: []string{"orders", "public.order_items"}, Regexp: "group by"}},
		cachedsql.Rule{Name: "regexp", Match: cachedsql.Match{Regexp: "^select count"}},
		cachedsql.Rule{Name: "rest", Match: cachedsql.Match{Default: true}},
	)
	if err != nil {
		t.Fatal(err)
	}
	other := func(st *keying.Statement) *keying.Statement {
		st.Fingerprint = "ffffffffffffffffffffffffffffffff"
		return st
	}
	write := read("", "delete from products", "products")
	write.Kind = keying.KindWrite
	uncacheable := other(read("GetUser", "select now() from users", "users"))
	uncacheable.Cacheable = false
	tests := []struct {
		name string
		st   *keying.Statement
		want string // rule name; "" for not cached
	}{
		{"query name first", read("GetUser", "select * from products", "products"), "by-name"},
		{"fingerprint", read("", "select * from users", "users"), "by-fingerprint"},
		{"disabled excludes", other(read("", "select * from log join products", "log", "products")), ""},
		{"tables any", other(read("", "select * from categories", "categories")), "any"},
		{"tables all and regexp", other(read("", "select x from orders, order_items group by x", "order_items", "orders")), "all"},
		{"tables all, regexp fails", other(read("", "select x from orders, order_items", "order_items", "orders")), "rest"},
		{"tables all, one missing", other(read("", "select x from orders group by x", "orders")), "rest"},
		{"regexp", other(read("", "select count(*) from users", "users")), "regexp"},
		{"default", other(read("", "select 1")), "rest"},
		{"write never", write, ""},
		{"uncacheable never", uncacheable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if r := rs.Match(tt.st); r != nil {
				got = r.Name
			}
			if got != tt.want {
				t.Errorf("Match(%q): got rule %q, want %q", tt.st.Normalized, got, tt.want)
			}
		})
	}
	if r := (*cachedsql.Rules)(nil).Match(read("GetUser", "select 1")); r != nil {
		t.Errorf("nil Rules: got %v, want nil", r)
	}
}

// analyze runs keying.Analyze on query, failing unless wantRead says
// correctly whether it is a cacheable read.
func analyze(t *testing.T, query string, wantRead bool) *keying.Statement {
	t.Helper()
	st := keying.Analyze(query)
	if isRead := st.Kind == keying.KindRead && st.Cacheable; isRead != wantRead {
		t.Fatalf("keying.Analyze(%q): got kind %v, cacheable %v (%s); want cacheable read %v",
			query, st.Kind, st.Cacheable, st.Reason, wantRead)
	}
	return st
}

func TestMatchAnalyze(t *testing.T) {
	t.Parallel()
	byPrint := analyze(t, "SELECT id, total FROM invoices WHERE id = $1", true)
	rs, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "get-user", Match: cachedsql.Match{QueryName: "GetUser"}},
		cachedsql.Rule{Name: "invoice", Match: cachedsql.Match{Fingerprint: byPrint.Fingerprint}},
		cachedsql.Rule{Name: "no-orders", Match: cachedsql.Match{Regexp: `^select .* from orders\b`}, Disabled: true},
		cachedsql.Rule{Name: "catalog", Match: cachedsql.Match{TablesAny: []string{"Public.Products", "categories"}}},
		cachedsql.Rule{Name: "report", Match: cachedsql.Match{TablesAll: []string{"orders", "customers"}}},
		cachedsql.Rule{Name: "rest", Match: cachedsql.Match{Default: true}},
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		query string
		read  bool   // a cacheable read
		want  string // rule name; "" for not cached
	}{
		{"query name", "-- name: GetUser :one\nSELECT * FROM users WHERE id = $1", true, "get-user"},
		{"fingerprint ignores layout", "select id,  total\n  from INVOICES where id = $1", true, "invoice"},
		{"disabled excludes", "SELECT * FROM orders JOIN customers ON customers.id = orders.customer_id", true, ""},
		{"tables any", `SELECT p.* FROM public."Products" p WHERE p.id = $1`, true, "catalog"},
		{"tables all", "SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name", true, "report"},
		{"default", "SELECT * FROM users", true, "rest"},
		{"write", "UPDATE users SET name = $1", false, ""},
		{"not cacheable", "SELECT now(), * FROM users", false, ""},
		{"for update", "SELECT * FROM products FOR UPDATE", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := analyze(t, tt.query, tt.read)
			got := ""
			if r := rs.Match(st); r != nil {
				got = r.Name
			}
			if got != tt.want {
				t.Errorf("Match(%q): got rule %q, want %q", st.Normalized, got, tt.want)
			}
		})
	}
}

func FuzzParseRules(f *testing.F) {
	for _, dir := range []string{"good", "good/reports", "bad"} {
		files, _ := filepath.Glob(filepath.Join(rulesTestdata, dir, "*.y*ml"))
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(operatorRunRules))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := cachedsql.ParseRules("fuzz.yaml", data)
		if err != nil {
			var re *cachedsql.RuleError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RuleError", err)
			}
			return
		}
		// A loaded set is valid in code too, and unchanged by NewRules.
		again, err := cachedsql.NewRules(rs.All()...)
		if err != nil {
			t.Fatalf("NewRules(ParseRules(...).All()): %v", err)
		}
		if got, want := again.All(), rs.All(); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}
