package keying

import (
	"bufio"
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var updatePins = flag.Bool("update", false, "rewrite the expectations of testdata/keying/pins.txt from the results")

const pinsGolden = "../testdata/keying/pins.txt"

// describeRows renders what Pins and Lookup find in pins.txt's format:
// reads show their lookup, anything else its pins.
func describeRows(st *Statement) string {
	if st.Kind == KindRead {
		lk, reason := st.Lookup()
		if lk == nil {
			return "lookup: - (" + reason + ")"
		}
		eqs := make([]string, len(lk.Columns))
		for i, c := range lk.Columns {
			eqs[i] = c + " = " + valueText(lk.Values[i])
		}
		return "lookup: " + lk.Table + " where " + strings.Join(eqs, " and ")
	}
	pn := st.Pins()
	if pn == nil {
		return "pins: -"
	}
	head := "pins: " + pn.Table
	if pn.Creates {
		head += " (creates)"
	}
	if len(pn.Columns) == 0 {
		return head + "\ncolumns: -"
	}
	rows := make([]string, len(pn.Rows))
	for i, r := range pn.Rows {
		vals := make([]string, len(r))
		for j, v := range r {
			vals[j] = valueText(v)
		}
		rows[i] = "(" + strings.Join(vals, ", ") + ")"
	}
	return head + "\ncolumns: " + strings.Join(pn.Columns, ", ") + "\nrows: " + strings.Join(rows, " ")
}

func TestPinsGolden(t *testing.T) {
	cases := readGolden(t, pinsGolden)
	if *updatePins {
		rewriteGolden(t, pinsGolden, func(sql string) string { return describeRows(Analyze(sql)) })
		cases = readGolden(t, pinsGolden)
	}
	if len(cases) < 60 {
		t.Errorf("golden file has %d cases, want at least 60", len(cases))
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(firstLine(c.sql), "/", "|"), func(t *testing.T) {
			st := Analyze(c.sql)
			if got := describeRows(st); got != c.want {
				t.Errorf("pins.txt:%d: %s\ngot:\n%s\nwant:\n%s", c.line, c.sql, got, c.want)
			}
			checkRowShapes(t, c.sql, st)
		})
	}
}

// rewriteGolden replaces every expectation of a golden file with describe
// of its SQL, keeping the SQL, comments and blank lines.
func rewriteGolden(t *testing.T, path string, describe func(sql string) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out, sql []string
	inWant := false
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inWant && line == "":
			inWant = false
			out = append(out, line)
		case inWant:
		case line == "----":
			out = append(out, line, describe(strings.Join(sql, "\n")))
			sql, inWant = nil, true
		case len(sql) == 0 && (line == "" || strings.HasPrefix(line, "#")):
			out = append(out, line)
		default:
			sql = append(sql, line)
			out = append(out, line)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRowShapes checks the invariants of Pins and Lookup on any statement.
func checkRowShapes(t testing.TB, query string, st *Statement) {
	t.Helper()
	if pn := st.Pins(); pn != nil {
		if st.Kind != KindWrite || st.Multi || len(st.Writes) != 1 || pn.Table != st.Writes[0] || st.AllTables {
			t.Fatalf("%q: pins on a %v statement writing %v (all tables %v, multi %v)", query, st.Kind, st.Writes, st.AllTables, st.Multi)
		}
		if !pn.Creates && len(pn.Columns) == 0 {
			t.Fatalf("%q: pins without columns", query)
		}
		checkColumns(t, query, pn.Columns)
		if len(pn.Rows) > MaxPinnedRows || len(pn.Columns) > 0 && len(pn.Rows) == 0 {
			t.Fatalf("%q: %d pinned rows", query, len(pn.Rows))
		}
		for _, r := range pn.Rows {
			if len(r) != len(pn.Columns) {
				t.Fatalf("%q: row %v for columns %v", query, r, pn.Columns)
			}
			for _, v := range r {
				checkValue(t, query, v)
			}
		}
	}
	lk, reason := st.Lookup()
	switch {
	case lk == nil && reason == "":
		t.Fatalf("%q: no lookup and no reason", query)
	case lk == nil:
		return
	case reason != "" || !st.Cacheable || len(st.Reads) != 1 || lk.Table != st.Reads[0]:
		t.Fatalf("%q: lookup %+v (reason %q) of a statement reading %v, cacheable %v", query, lk, reason, st.Reads, st.Cacheable)
	case len(lk.Columns) == 0 || len(lk.Columns) != len(lk.Values):
		t.Fatalf("%q: lookup columns %v values %v", query, lk.Columns, lk.Values)
	}
	checkColumns(t, query, lk.Columns)
	for _, v := range lk.Values {
		checkValue(t, query, v)
	}
}

func checkColumns(t testing.TB, query string, cols []string) {
	t.Helper()
	if !slices.IsSorted(cols) || len(slices.Compact(slices.Clone(cols))) != len(cols) || slices.Contains(cols, "") {
		t.Fatalf("%q: columns %q not sorted, unique and non-empty", query, cols)
	}
}

func checkValue(t testing.TB, query string, v Value) {
	t.Helper()
	kinds := 0
	for _, b := range []bool{v.IsLiteral, v.Name != "", v.Ordinal > 0} {
		if b {
			kinds++
		}
	}
	if kinds != 1 || !v.IsLiteral && v.Literal != "" {
		t.Fatalf("%q: value %+v is not exactly one of literal, name and ordinal", query, v)
	}
}

// TestPinsStableUnderFormatting checks that whitespace, comments and
// normalization do not change what Pins and Lookup find.
func TestPinsStableUnderFormatting(t *testing.T) {
	for _, c := range readGolden(t, pinsGolden) {
		st := Analyze(c.sql)
		if !formatStable(c.sql) {
			continue
		}
		for _, other := range []string{spread(c.sql), st.Normalized} {
			o := Analyze(other)
			if !reflect.DeepEqual(o.Pins(), st.Pins()) {
				t.Errorf("pins.txt:%d: pins of %q = %+v, of %q = %+v", c.line, c.sql, st.Pins(), other, o.Pins())
			}
			lk1, r1 := st.Lookup()
			lk2, r2 := o.Lookup()
			if !reflect.DeepEqual(lk1, lk2) || r1 != r2 {
				t.Errorf("pins.txt:%d: lookup of %q = %+v %q, of %q = %+v %q", c.line, c.sql, lk1, r1, other, lk2, r2)
			}
		}
	}
}

// formatStable reports whether reformatting query must keep its pins and
// lookup. It need not when the text holds a MySQL "/*!" or nested comment or
// text MySQL reads differently (normalization drops what MySQL would run),
// or a $name placeholder, whose "$" and name normalization separates.
func formatStable(query string) bool {
	lx := lex(query)
	if lx.unterminated || lx.oddComment || !dialectSafe(query, lx) {
		return false
	}
	for _, t := range lx.toks {
		if t.is(tOp, "$") {
			return false
		}
	}
	return true
}

func TestDialectSafe(t *testing.T) {
	tests := []struct {
		query string
		safe  bool
	}{
		{"UPDATE t SET a = 1 WHERE id = 5 -- five\n", true},
		{"UPDATE t SET a = 1 WHERE id = 5 --\tfive", true},
		{"UPDATE t SET a = 1 WHERE id = 5--1", false},
		{"UPDATE t SET a = 1 WHERE id = 5 ---", false},
		{"UPDATE t SET a = 1 WHERE id = 5 /* a -- b */", true},
		{"UPDATE t SET a = 1 WHERE id = 5 /* a --b */", false},
		{"UPDATE t SET a = 1 WHERE x > 0 # AND id = 5", false},
		{"SELECT * FROM t WHERE data #>> '{a}' = 'x'", false},
		{`UPDATE t SET a = 'C:\dir', b = E'it\'s', c = "x\y" WHERE id = 5`, true},
		{`UPDATE t SET a = 'a\' WHERE id = 5 OR 1 = 1 -- ' WHERE id = 6`, false},
		{`UPDATE t SET a = "a\" WHERE id = 5`, false},
		{"UPDATE t SET a = $x$it\\'s$x$, b = `c\\` WHERE id = 5", true},
		{`UPDATE t SET a = 'it''s' WHERE id = 5`, true},
	}
	for _, tt := range tests {
		if got := dialectSafe(tt.query, lex(tt.query)); got != tt.safe {
			t.Errorf("dialectSafe(%q) = %v, want %v", tt.query, got, tt.safe)
		}
	}
}
