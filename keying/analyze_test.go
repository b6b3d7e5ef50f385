package keying

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// goldenCase is one case of testdata/keying/analyze.txt.
type goldenCase struct {
	line int    // line of the first SQL line
	sql  string // the statement
	want string // the expected description, one field per line
}

// readGolden parses a golden file. A case is the SQL (one or more lines),
// a "----" line, and the expected description up to a blank line. Lines
// starting with "#" between cases are comments.
func readGolden(t testing.TB, path string) []goldenCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		cases  []goldenCase
		cur    goldenCase
		sql    []string
		want   []string
		inWant bool
	)
	flush := func() {
		if len(sql) > 0 {
			cur.sql, cur.want = strings.Join(sql, "\n"), strings.Join(want, "\n")
			cases = append(cases, cur)
		}
		sql, want, inWant = nil, nil, false
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case inWant && line == "":
			flush()
		case inWant:
			want = append(want, line)
		case line == "----":
			inWant = true
		case len(sql) == 0 && (line == "" || strings.HasPrefix(line, "#")):
		default:
			if len(sql) == 0 {
				cur = goldenCase{line: n}
			}
			sql = append(sql, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return cases
}

// describe renders what Analyze found in the golden file's format.
func describe(st *Statement) string {
	list := func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ", ")
	}
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	verdict := "yes"
	if !st.Cacheable {
		verdict = "no (" + st.Reason + ")"
	}
	name := st.Name
	if name == "" {
		name = "-"
	}
	return strings.Join([]string{
		"kind: " + st.Kind.String(),
		"reads: " + list(st.Reads),
		"writes: " + list(st.Writes),
		"all-tables: " + yesNo(st.AllTables),
		"cacheable: " + verdict,
		"multi: " + yesNo(st.Multi),
		"name: " + name,
	}, "\n")
}

func TestAnalyzeGolden(t *testing.T) {
	cases := readGolden(t, "../testdata/keying/analyze.txt")
	if len(cases) < 120 {
		t.Errorf("golden file has %d cases, want at least 120", len(cases))
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(firstLine(c.sql), "/", "|"), func(t *testing.T) {
			got := describe(Analyze(c.sql))
			if got != c.want {
				t.Errorf("analyze.txt:%d: %s\ngot:\n%s\nwant:\n%s", c.line, c.sql, got, c.want)
			}
		})
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
