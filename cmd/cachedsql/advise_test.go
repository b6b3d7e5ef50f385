package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

// The advise workload, on SQLite: a hot aggregate over 40,000 rows (milliseconds), a hot primary-key
// lookup (microseconds: less than a Redis round trip), and a read of a table written after every read.
const (
	adviseAggregate = `SELECT count(*), sum(v) FROM big WHERE g = %d`
	adviseLookup    = `SELECT name FROM users WHERE id = ?`
	adviseWritten   = `SELECT sum(n) FROM counters`
	adviseWrite     = `UPDATE counters SET n = n + 1 WHERE id = ?`
)

// adviseDB returns a SQLite file holding the tables of the advise workload.
func adviseDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "advise.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE big (id INTEGER PRIMARY KEY, g INTEGER, v INTEGER)`,
		`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 40000) INSERT INTO big SELECT i, i % 7, i * 3 FROM s`,
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`,
		`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100) INSERT INTO users SELECT i, 'user' || i FROM s`,
		`CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER)`,
		`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000) INSERT INTO counters SELECT i, 0 FROM s`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// adviseWorkload runs the advise workload through db.
func adviseWorkload(t *testing.T, db *sql.DB) {
	t.Helper()
	read := func(q string, args ...any) {
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 40 {
		read(fmt.Sprintf(adviseAggregate, i%3))
	}
	for i := range 400 {
		read(adviseLookup, 1+i%100)
	}
	for i := range 40 {
		read(adviseWritten)
		if _, err := db.Exec(adviseWrite, 1+i); err != nil {
			t.Fatal(err)
		}
	}
}

// openAdviseApp opens path through the wrapper with the default options, caching in the test Redis
// under ns with rules (nil: none, an observation run).
func openAdviseApp(t *testing.T, path, ns string, rules *cachedsql.Rules) *sql.DB {
	t.Helper()
	db, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Redis: testRedis(t), Namespace: ns, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// advise runs `cachedsql advise` with args and returns its output.
func advise(t *testing.T, args ...string) string {
	t.Helper()
	return cmd(t, append([]string{"advise", "-redis", redisURL(t)}, args...)...).ok(t)
}

// adviceOn returns the comment block of out about the statement whose normalized digest text is text.
func adviceOn(out, text string) string {
	_, after, ok := strings.Cut(out, ": "+text+"\n")
	if !ok {
		return ""
	}
	block, _, _ := strings.Cut(after, "#\n")
	return block
}

// TestRunAdvise: after an observation run (no rules) of a hot aggregate, a hot SQLite primary-key
// lookup and a read of a table written as often as it is read, advise recommends caching the first,
// not the second (a Redis hit costs more than SQLite's lookup), and warns that the third is written
// too often; its rule file loads and caches the aggregate.
func TestRunAdvise(t *testing.T) {
	ns, path := testNamespace(t), adviseDB(t)
	app := openAdviseApp(t, path, ns, nil)
	adviseWorkload(t, app)
	if err := app.Close(); err != nil { // adds the last figures to the store
		t.Fatal(err)
	}
	out := advise(t, "-namespace", ns)
	t.Logf("advise:\n%s", out)
	if left, err := testRedis(t).Keys(context.Background(), ns+":advise-probe*").Result(); err != nil || len(left) > 0 {
		t.Errorf("the hit probe left keys behind: %v %v", left, err)
	}

	agg, lookup, written := keying.DigestOf(fmt.Sprintf(adviseAggregate, 1)), keying.DigestOf(adviseLookup), keying.DigestOf(adviseWritten)
	if !strings.Contains(out, "a hit costs") || !strings.Contains(out, "measured: no hits observed") {
		t.Errorf("advise does not say what a hit costs, measured on the store")
	}
	if a := adviceOn(out, agg.Text); !strings.Contains(out, "CACHE (rule big-"+agg.Fingerprint[:8]+"): "+agg.Text) || a == "" {
		t.Errorf("the aggregate is not recommended for caching:\n%s", a)
	}
	if a := adviceOn(out, lookup.Text); !strings.Contains(out, "do not cache: "+lookup.Text) ||
		!strings.Contains(a, "costs more than it saves") || !strings.Contains(a, "in-process memory store") {
		t.Errorf("the primary-key lookup: want do not cache, as a hit costs more than the database (memory tier aside):\n%s", a)
	}
	if a := adviceOn(out, written.Text); !strings.Contains(out, "do not cache: "+written.Text) || !strings.Contains(a, "written too often") {
		t.Errorf("the read of counters: want do not cache, written too often:\n%s", a)
	}

	// The output is a rule file that the loader accepts, with one rule: the aggregate's, matching it
	// whatever its literal.
	rules, err := cachedsql.ParseRules("advise.yaml", []byte(out))
	if err != nil {
		t.Fatalf("the rule file does not load: %v\n%s", err, out)
	}
	for q, want := range map[string]bool{fmt.Sprintf(adviseAggregate, 1): true, fmt.Sprintf(adviseAggregate, 6): true,
		adviseLookup: false, adviseWritten: false} {
		if got := rules.Match(keying.Analyze(q)) != nil; got != want {
			t.Errorf("rule file matches %q: %v, want %v", q, got, want)
		}
	}
	cached := openAdviseApp(t, path, ns, rules)
	adviseWorkload(t, cached)
	st, _ := cachedsql.StatsOf(cached)
	// A read whose store round trip exceeded the default StoreTimeout (a loaded host) is a store bypass.
	if st.Hits == 0 || st.Hits+st.Misses+st.Bypasses[cachedsql.BypassStore] != 40 {
		t.Errorf("under the advised rules: %d hits, %d misses, %d store bypasses; want the 40 reads of the aggregate cached, some hits",
			st.Hits, st.Misses, st.Bypasses[cachedsql.BypassStore])
	}
	if err := cached.Close(); err != nil {
		t.Fatal(err)
	}

	// Now that the store has served hits, advise takes their observed time as a hit's cost.
	if out := advise(t, "-namespace", ns); !strings.Contains(out, "observed: median hit time of") {
		t.Errorf("after hits, advise does not use their time:\n%s", out)
	}
}

// TestRunAdviseFlags: -hit-cost replaces the measured cost (a free hit would pay for the lookup too);
// -db selects one database; a namespace without statistics says so.
func TestRunAdviseFlags(t *testing.T) {
	ns, path := testNamespace(t), adviseDB(t)
	app := openAdviseApp(t, path, ns, nil)
	adviseWorkload(t, app)
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	lookup := keying.DigestOf(adviseLookup)
	out := advise(t, "-namespace", ns, "-hit-cost", "1ns")
	if !strings.Contains(out, "(given with -hit-cost)") || !strings.Contains(out, "CACHE (rule users-"+lookup.Fingerprint[:8]+"): "+lookup.Text) {
		t.Errorf("-hit-cost 1ns: the lookup is not recommended:\n%s", out)
	}
	rules, err := cachedsql.ParseRules("advise.yaml", []byte(out))
	if err != nil {
		t.Fatalf("the rule file does not load: %v\n%s", err, out)
	}
	if rules.Match(keying.Analyze(adviseLookup)) == nil {
		t.Error("the lookup's rule (match.sql) does not match it")
	}
	stats, err := cachedsql.NewAdmin(testRedis(t), ns).QueryStats(context.Background(), cachedsql.AllDatabases)
	if err != nil || len(stats) == 0 {
		t.Fatalf("QueryStats: %v, %d", err, len(stats))
	}
	if out := advise(t, "-namespace", ns, "-db", string(stats[0].Database)); !strings.Contains(out, "# database "+string(stats[0].Database)) {
		t.Errorf("-db %s:\n%s", stats[0].Database, out)
	}
	if out := advise(t, "-namespace", ns, "-db", "0123456789abcdef"); !strings.Contains(out, "no statistics under") {
		t.Errorf("-db of another database:\n%s", out)
	}
}
