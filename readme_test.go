package cachedsql_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
)

// TestReadmeSnippets checks that every Go snippet in README.md is taken from compiled code: its lines,
// in order, appear in one Go file of the module (an example or a test), so the README cannot drift.
func TestReadmeSnippets(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string][]string{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sources[path] = trimmedLines(string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("no Go snippets found in README.md")
	}
	for _, m := range blocks {
		snippet := trimmedLines(m[1])
		found := false
		for _, lines := range sources {
			if containsInOrder(lines, snippet) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("README snippet not found, in order, in any Go file of the module:\n%s", m[1])
		}
	}
}

func trimmedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// containsInOrder reports whether want's lines appear in lines in order (other lines may come between).
func containsInOrder(lines, want []string) bool {
	i := 0
	for _, l := range lines {
		if i < len(want) && l == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestOptionsDocumented checks that README's Options table has a row for every exported field of
// Options, and its Environment variables table one for every CACHEDSQL_* variable the library reads.
func TestOptionsDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := func(section string) []string {
		t.Helper()
		m := regexp.MustCompile("(?s)\n### " + regexp.QuoteMeta(section) + "\n(.*?)\n##").FindSubmatch(readme)
		if m == nil {
			t.Fatalf("README has no %q section", section)
		}
		var names []string
		for _, r := range regexp.MustCompile("(?m)^\\| `([A-Za-z_]+)` \\|").FindAllSubmatch(m[1], -1) {
			names = append(names, string(r[1]))
		}
		return names
	}
	var fields []string
	typ := reflect.TypeFor[cachedsql.Options]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() {
			fields = append(fields, f.Name)
		}
	}
	if got := rows("Options"); !slices.Equal(got, fields) {
		t.Errorf("README's Options table lists %q, want the fields of Options in order: %q", got, fields)
	}
	env := []string{cachedsql.EnvRules, cachedsql.EnvRedisURL, cachedsql.EnvNamespace, cachedsql.EnvStoreTimeout,
		cachedsql.EnvSessionSettings}
	if got := rows("Environment variables"); !slices.Equal(got, env) {
		t.Errorf("README's environment table lists %q, want %q", got, env)
	}
}
