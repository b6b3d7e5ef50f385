package cachedsql

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestBypassReasonsNamed: the names of the reasons are part of the API (maps of them print them, and
// dashboards and alerts use them as labels): each is unique, and none ever changes. A new reason gets
// a new name at the end.
func TestBypassReasonsNamed(t *testing.T) {
	bypass := []string{"none", "no rule", "rule disabled", "not cacheable", "transaction", "session changed",
		"context", "argument not hashable", "store unavailable", "result not shareable", "analysis failed",
		"session differs", "another database", "user-defined function", "view not cacheable", "catalog unknown"}
	if len(bypass) != int(numBypassReasons) {
		t.Errorf("%d bypass reasons, %d names here: add the new reason's name (never change an old one)",
			numBypassReasons, len(bypass))
	}
	for r := range min(numBypassReasons, BypassReason(len(bypass))) {
		if got := r.String(); got != bypass[r] {
			t.Errorf("BypassReason(%d).String() = %q, want %q", r, got, bypass[r])
		}
	}
	stale := []string{"none", "revalidate", "database error", "lock wait"}
	if len(stale) != int(numStaleReasons) {
		t.Errorf("%d stale reasons, %d names here", numStaleReasons, len(stale))
	}
	for r := range min(numStaleReasons, StaleReason(len(stale))) {
		if got := r.String(); got != stale[r] {
			t.Errorf("StaleReason(%d).String() = %q, want %q", r, got, stale[r])
		}
	}
	if got := BypassReason(200).String(); got != "BypassReason(200)" {
		t.Errorf("BypassReason(200).String() = %q", got)
	}
	if got := StaleReason(200).String(); got != "StaleReason(200)" {
		t.Errorf("StaleReason(200).String() = %q", got)
	}
}

// reasonConst is one constant of a reason type, as declared in reasons.go.
type reasonConst struct {
	name, doc string
}

// reasonConsts returns the constants of the const block whose first constant has type typ, in the
// order of declaration, that is by value (the block counts with iota, one name per line).
func reasonConsts(t *testing.T, typ string) []reasonConst {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "reasons.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST || len(g.Specs) == 0 {
			continue
		}
		first := g.Specs[0].(*ast.ValueSpec)
		if id, ok := first.Type.(*ast.Ident); !ok || id.Name != typ {
			continue
		}
		var out []reasonConst
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if len(vs.Names) != 1 || (vs != first && (vs.Type != nil || vs.Values != nil)) {
				t.Fatalf("%s: the const block of %s must count with iota, one name per line", typ, typ)
			}
			out = append(out, reasonConst{name: vs.Names[0].Name, doc: vs.Doc.Text()})
		}
		return out
	}
	t.Fatalf("reasons.go declares no const block of type %s", typ)
	return nil
}

// readmeTable returns the rows of README.md's tables whose second column is a constant with the given
// prefix: its name (first column) and constant, in order.
func readmeTable(t *testing.T, prefix string) [][2]string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `(" + prefix + "[A-Za-z]+)` \\|")
	var out [][2]string
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// TestReasonDocs: the lists of reasons people read are the enum's own. Every reason but the zero one
// is an exported constant whose doc comment says when it happens, and README.md's table lists every
// one, in order, by the name String gives it and its constant. The package doc and the README name
// only reasons that exist.
func TestReasonDocs(t *testing.T) {
	check := func(typ, prefix, last string, n int, name func(int) string) {
		consts := reasonConsts(t, typ)
		if len(consts) != n+1 || consts[n].name != last {
			t.Fatalf("%s: %d constants in its block, want %d reasons and %s last", typ, len(consts), n, last)
		}
		var want [][2]string
		for i := 1; i < n; i++ {
			c := consts[i]
			if !ast.IsExported(c.name) || !strings.HasPrefix(c.name, prefix) {
				t.Errorf("%s %d is %s: want an exported constant named %s…", typ, i, c.name, prefix)
			}
			if !strings.HasPrefix(c.doc, c.name+": ") || len(c.doc) < len(c.name)+20 {
				t.Errorf("%s: its doc comment must say when it happens, starting %q; it is %q", c.name, c.name+": ", c.doc)
			}
			want = append(want, [2]string{name(i), c.name})
		}
		got := readmeTable(t, prefix)
		if len(got) != len(want) {
			t.Errorf("README.md lists %d %s values, want %d:\n got %q\nwant %q", len(got), typ, len(want), got, want)
			return
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("README.md's %s table, row %d: got %q, want %q", typ, i+1, got[i], want[i])
			}
		}
	}
	check("BypassReason", "Bypass", "numBypassReasons", int(numBypassReasons),
		func(i int) string { return BypassReason(i).String() })
	check("StaleReason", "Stale", "numStaleReasons", int(numStaleReasons),
		func(i int) string { return StaleReason(i).String() })

	names := map[string]bool{}
	for r := BypassNoRule; r < numBypassReasons; r++ {
		names[r.String()] = true
	}
	mention := regexp.MustCompile("bypass reason [\"`]([^\"`]+)[\"`]")
	for _, file := range []string{"README.md", "doc.go"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mention.FindAllStringSubmatch(string(b), -1) {
			if !names[m[1]] {
				t.Errorf("%s names the bypass reason %q, which does not exist", file, m[1])
			}
		}
	}
}
