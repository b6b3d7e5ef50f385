package cachedsql_test

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// module is this module's path.
const module = "github.com/cachedsql/cachedsql"

// importRule says what the packages of one folder must never import. The rules are those of the
// table "What each package must never import" in docs/ARCHITECTURE.md, which the test checks too.
type importRule struct {
	// dir is a folder of the module ("." for the root); dir/... also covers the folders below it.
	dir string
	// forbidden reports why an import of imp, by a test file when test is set, breaks the rule ("" if
	// it does not).
	forbidden func(imp string, test bool) string
}

// within reports whether imp is the module package rel or one below it.
func within(imp, rel string) bool {
	p := module + "/" + rel
	return imp == p || strings.HasPrefix(imp, p+"/")
}

// userFacing lists the packages above the engine: they import the root, so nothing the root
// imports may import them.
func userFacing(imp string) bool {
	return imp == module || within(imp, "cmd") || within(imp, "drivers") || within(imp, "examples") ||
		within(imp, "pgsignal") || within(imp, "otel")
}

// openTelemetrySDK reports whether imp is a package of the OpenTelemetry SDK or one of its exporters,
// which an application chooses (the API is go.opentelemetry.io/otel, /attribute, /metric, /trace …).
func openTelemetrySDK(imp string) bool {
	return strings.HasPrefix(imp, "go.opentelemetry.io/otel/sdk") ||
		strings.HasPrefix(imp, "go.opentelemetry.io/otel/exporters")
}

// standardLibrary reports whether imp is a package of the standard library: its first element has no dot.
func standardLibrary(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

var importRules = []importRule{
	{"keying", func(imp string, test bool) string {
		if standardLibrary(imp) || imp == module+"/keying" {
			return ""
		}
		return "keying is pure: the standard library only"
	}},
	{"strategies", func(imp string, test bool) string {
		if userFacing(imp) {
			return "strategies are policies below the API: they never import the root or what imports it"
		}
		return ""
	}},
	{"lockstore", func(imp string, test bool) string {
		if userFacing(imp) {
			return "lockstore is below the API: it never imports the root or what imports it"
		}
		return ""
	}},
	{"internal/...", func(imp string, test bool) string {
		if userFacing(imp) {
			return "internal packages are the engine's parts: they never import the root or what imports it"
		}
		return ""
	}},
	{"cmd/...", func(imp string, test bool) string {
		if within(imp, "internal") && !(test && imp == module+"/internal/testenv") {
			return "the command uses the public API only (its tests may use internal/testenv)"
		}
		return ""
	}},
	{"examples/...", func(imp string, test bool) string {
		if within(imp, "internal") && !(test && imp == module+"/internal/testenv") {
			return "examples use the public API only (their tests may use internal/testenv)"
		}
		return ""
	}},
	{"otel", func(imp string, test bool) string {
		if openTelemetrySDK(imp) && !test {
			return "the adapter needs the OpenTelemetry API only: the SDK and exporters are the application's choice"
		}
		return ""
	}},
	{"otel/...", func(imp string, test bool) string {
		if within(imp, "internal") && !(test && imp == module+"/internal/testenv") {
			return "the adapter and its example use the public API only (their tests may use internal/testenv)"
		}
		return ""
	}},
}

// TestForbiddenImports fails when a package imports what docs/ARCHITECTURE.md says it must never
// import. It reads the import lines of every Go file of the repository, nested modules and tests included.
func TestForbiddenImports(t *testing.T) {
	t.Parallel()
	imports := moduleImports(t)
	for _, r := range importRules {
		base, all := strings.CutSuffix(r.dir, "/...")
		checked := 0
		for file, imps := range imports {
			dir := filepath.ToSlash(filepath.Dir(file))
			if dir != base && !(all && strings.HasPrefix(dir, base+"/")) {
				continue
			}
			checked++
			test := strings.HasSuffix(file, "_test.go")
			for _, imp := range imps {
				if why := r.forbidden(imp, test); why != "" {
					t.Errorf("%s imports %q: %s", file, imp, why)
				}
			}
		}
		if checked == 0 {
			t.Errorf("rule for %s matched no Go file: update importRules and docs/ARCHITECTURE.md", r.dir)
		}
	}
}

// TestImportRulesDocumented checks that docs/ARCHITECTURE.md's table of forbidden imports names
// exactly the folders that importRules checks.
func TestImportRulesDocumented(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var documented []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = strings.Contains(line, "must never import")
		case in && strings.HasPrefix(line, "| `"):
			cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			documented = append(documented, cell)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range importRules {
		want = append(want, r.dir)
	}
	if strings.Join(documented, " ") != strings.Join(want, " ") {
		t.Errorf("docs/ARCHITECTURE.md lists rules for %q; the test checks %q", documented, want)
	}
}

// moduleImports returns the imports of every Go file of the repository, by file path relative to its
// root, skipping testdata and hidden folders. The modules nested in it (otel/, an adapter with
// dependencies of its own) are read too: their folders have rules like the others.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	out := make(map[string][]string)
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != "." && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if path.Ext(name) != ".go" {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			out[p] = append(out[p], imp)
		}
		if out[p] == nil {
			out[p] = []string{}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
