package keying

import (
	"slices"
	"testing"
)

func TestCalls(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{`SELECT tier_of($1)`, []string{"tier_of"}},
		{`SELECT public.Tier_Of(id), count(*) FROM t WHERE x IN (1, 2) AND EXISTS (SELECT 1)`, []string{"count", "tier_of"}},
		{`SELECT "TierOf"(1), 'f(x)', a.b FROM t`, []string{"tierof"}},
		{`SELECT * FROM generate_series(1, 3) AS g(n)`, []string{"g", "generate_series"}},
		{`SELECT 1`, nil},
	} {
		if got := Analyze(tc.sql).Calls(); !slices.Equal(got, tc.want) {
			t.Errorf("Calls(%s) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}

func TestRowOps(t *testing.T) {
	for _, tc := range []struct {
		sql      string
		del, upd bool
	}{
		{`INSERT INTO t VALUES (1)`, false, false},
		{`INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET x = 1`, false, true},
		{`INSERT OR REPLACE INTO t VALUES (1)`, true, true},
		{`UPDATE t SET x = 'delete'`, false, true},
		{`DELETE FROM t WHERE id = 1`, true, false},
		{`MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE`, true, true},
	} {
		if d, u := Analyze(tc.sql).RowOps(); d != tc.del || u != tc.upd {
			t.Errorf("RowOps(%s) = %v, %v; want %v, %v", tc.sql, d, u, tc.del, tc.upd)
		}
	}
}

func TestWriteTargets(t *testing.T) {
	for _, tc := range []struct {
		body   string
		tables []string
		calls  []string
		ok     bool
	}{
		{`BEGIN INSERT INTO audit (id, note) VALUES (NEW.id, 'order ' || TG_OP); RETURN NEW; END`, []string{"audit"}, []string{"audit"}, true}, // a column list reads as a call
		{`BEGIN IF TG_OP = 'DELETE' THEN DELETE FROM s.totals WHERE id = OLD.id; END IF;
			UPDATE counts SET n = n + 1; PERFORM notify_it(NEW.id); RETURN NULL; END`, []string{"counts", "totals"}, []string{"notify_it"}, true},
		{`INSERT OR REPLACE INTO a VALUES (new.x); UPDATE OR IGNORE b SET y = replace(y, 'a', 'b');
			SELECT id FROM c FOR UPDATE; INSERT INTO d VALUES (1) ON CONFLICT DO UPDATE SET x = 2`, []string{"a", "b", "d"}, []string{"replace"}, true},
		{`BEGIN EXECUTE 'INSERT INTO ' || tbl || ' VALUES (1)'; RETURN NEW; END`, nil, nil, false},
		{`BEGIN TRUNCATE audit; RETURN NULL; END`, nil, nil, false},
		{`BEGIN INSERT INTO (SELECT 1) VALUES (1); END`, nil, nil, false},
		{`BEGIN INSERT INTO 'x`, nil, nil, false},
	} {
		tables, calls, ok := WriteTargets(tc.body)
		if ok != tc.ok || !slices.Equal(tables, tc.tables) || !slices.Equal(calls, tc.calls) {
			t.Errorf("WriteTargets(%s) = %q, %q, %v; want %q, %q, %v", tc.body, tables, calls, ok, tc.tables, tc.calls, tc.ok)
		}
	}
}

func TestDefinitionBody(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{`CREATE VIEW v (a, b) AS SELECT x AS a, y AS b FROM t`, `SELECT x AS a, y AS b FROM t`},
		{`CREATE TEMP VIEW "as" AS SELECT 1`, `SELECT 1`},
		{"CREATE TRIGGER tr AFTER INSERT ON t WHEN new.x > (SELECT 1) BEGIN\n  INSERT INTO a VALUES (CASE WHEN 1 THEN 2 END);\nEND",
			`INSERT INTO a VALUES (CASE WHEN 1 THEN 2 END);`},
		{`CREATE TRIGGER tr AFTER INSERT ON t BEGIN END`, ``},
		{`CREATE TABLE t (a int)`, ``},
		{`CREATE VIEW v AS (`, ``},
	} {
		if got := DefinitionBody(tc.sql); got != tc.want {
			t.Errorf("DefinitionBody(%s) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}

func TestStatements(t *testing.T) {
	got := Statements(`INSERT INTO a VALUES (';'); ; UPDATE b SET x = 1;`)
	want := []string{`INSERT INTO a VALUES (';')`, `UPDATE b SET x = 1`}
	if !slices.Equal(got, want) {
		t.Errorf("Statements = %q, want %q", got, want)
	}
}

// FuzzCatalogHelpers checks that the helpers the catalog uses never panic on any text.
func FuzzCatalogHelpers(f *testing.F) {
	for _, s := range []string{`SELECT f(x) FROM t`, `CREATE VIEW v AS SELECT 1`, `CREATE TRIGGER t BEGIN INSERT INTO a VALUES (1); END`,
		`UPDATE x SET a = a + 1`, `BEGIN EXECUTE 'x'; END`, `insert into`, `delete`, `)(`, `CREATE VIEW v AS`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st := &Statement{Query: s} // Analyze has fuzz targets of its own
		st.Calls()
		st.RowOps()
		WriteTargets(s)
		DefinitionBody(s)
		Statements(s)
	})
}
