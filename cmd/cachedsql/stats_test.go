package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

// The statistics workload of the stats tests: a read of users by an inlined id (one statement digest
// whatever the id), cached under rule "users", and a read of orders by an IN list of varying length,
// which no rule matches.
const (
	statsUserRead  = `SELECT name FROM users WHERE id = %d`
	statsOrderRead = `SELECT count(*) FROM orders WHERE id IN (%s)`
	statsRules     = "version: 1\nrules:\n  - name: users\n    match: { tables_any: [users] }\n"
)

// statsChildEnv makes TestStatsChild a child process: it holds "path namespace redis-url rounds".
const statsChildEnv = "CACHEDSQL_CLI_STATS_CHILD"

// statsDB returns a SQLite file with the users and orders of the statistics workload.
func statsDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stats.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')`,
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)`,
		`INSERT INTO orders VALUES (1, 10), (2, 20), (3, 5)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// runStatsChildren runs one child process per number of rounds, one after the other, each running
// the statistics workload on path through the wrapper with the default options, caching in the test
// Redis under ns, then closing its *sql.DB.
func runStatsChildren(t *testing.T, path, ns string, rounds ...int) {
	t.Helper()
	for _, n := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStatsChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), statsChildEnv+"="+strings.Join([]string{path, ns, redisURL(t), strconv.Itoa(n)}, " "))
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
	}
}

// TestStatsChild is a child process of the stats tests.
func TestStatsChild(t *testing.T) {
	cfg := strings.Fields(os.Getenv(statsChildEnv))
	if len(cfg) != 4 {
		return
	}
	rules, err := cachedsql.ParseRules("stats.yaml", []byte(statsRules))
	if err != nil {
		t.Fatal(err)
	}
	ro, err := redis.ParseURL(cfg[2])
	if err != nil {
		t.Fatal(err)
	}
	ro.ContextTimeoutEnabled = true
	rdb := redis.NewClient(ro)
	defer rdb.Close()
	db, err := cachedsql.Open("sqlite3", cfg[0], cachedsql.Options{Redis: rdb, Namespace: cfg[1], Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(cfg[3])
	lists := []string{"1", "1, 2", "3, 2, 1"}
	for i := range n {
		for _, q := range []string{fmt.Sprintf(statsUserRead, 1+i%3), fmt.Sprintf(statsOrderRead, lists[i%3])} {
			rows, err := db.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
		}
	}
	if err := db.Close(); err != nil { // adds the last figures to the store
		t.Fatal(err)
	}
}

// statsJSON runs `cachedsql stats -json` with args and decodes its output.
func statsJSON(t *testing.T, args ...string) []statJSON {
	t.Helper()
	out := cmd(t, append([]string{"stats", "-json"}, args...)...).ok(t)
	var list []statJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("stats -json: %v\n%s", err, out)
	}
	return list
}

// TestRunStatsTwoProcesses: two processes run the workload; `cachedsql stats` shows, per statement
// digest, the sum of both, in JSON and as a table.
func TestRunStatsTwoProcesses(t *testing.T) {
	ns, path := testNamespace(t), statsDB(t)
	runStatsChildren(t, path, ns, 20, 35)
	users, orders := keying.DigestOf(fmt.Sprintf(statsUserRead, 1)), keying.DigestOf(fmt.Sprintf(statsOrderRead, "1"))
	list := statsJSON(t, "-redis", redisURL(t), "-namespace", ns)
	got := map[string]statJSON{}
	for _, s := range list {
		got[s.Fingerprint] = s
	}
	if len(list) != 2 {
		t.Fatalf("stats: %d statements, want 2: %+v", len(list), list)
	}
	u, o := got[users.Fingerprint], got[orders.Fingerprint]
	// A read whose store round trip exceeded the default StoreTimeout (a loaded host) is a bypass for
	// "store unavailable": counted, in the sum, but neither a hit nor a miss.
	if storeBypass := u.Bypasses["store unavailable"]; u.Calls != 55 || u.Hits+u.Misses+storeBypass != 55 ||
		len(u.Bypasses) > 1 || len(u.Bypasses) == 1 && storeBypass == 0 ||
		u.Hits == 0 || u.Rule != "users" || u.Text != users.Text || u.HitP50Nanos <= 0 {
		t.Errorf("users: %+v\nwant 55 calls, hits or misses (or store bypasses), some hits (timed), rule users, text %q", u, users.Text)
	}
	if o.Calls != 55 || o.Bypasses["no rule"] != 55 || o.Queries != 55 || o.Rule != "" || o.Text != orders.Text || o.DBP50Nanos <= 0 {
		t.Errorf("orders: %+v\nwant 55 calls, 55 bypasses for no rule, each timed, no rule, text %q", o, orders.Text)
	}
	if list[0].Fingerprint != users.Fingerprint {
		t.Errorf("first line is %q, want the statement that saved database time (%q)", list[0].Text, users.Text)
	}

	table := cmd(t, "stats", "-redis", redisURL(t), "-namespace", ns).ok(t)
	t.Logf("stats:\n%s", table)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SAVED") || !strings.Contains(lines[1], users.Text) ||
		!strings.Contains(lines[1], " users ") || !strings.Contains(lines[2], orders.Text) || !strings.Contains(lines[2], " 55 ") {
		t.Errorf("stats table:\n%s\nwant a header, then users (rule users), then orders, 55 calls each", table)
	}

	db := u.Database
	if l := statsJSON(t, "-redis", redisURL(t), "-namespace", ns, "-db", db); len(l) != 2 {
		t.Errorf("-db %s: %d statements, want 2", db, len(l))
	}
	if l := statsJSON(t, "-redis", redisURL(t), "-namespace", ns, "-db", "0123456789abcdef"); len(l) != 0 {
		t.Errorf("-db of another database: %d statements, want none", len(l))
	}
	if l := statsJSON(t, "-redis", redisURL(t), "-namespace", ns, "-n", "1"); len(l) != 1 || l[0].Fingerprint != users.Fingerprint {
		t.Errorf("-n 1: %+v, want the users statement alone", l)
	}
}

// TestRunStatsEmptyAndErrors: a namespace with no statistics says so; bad flags are errors.
func TestRunStatsEmptyAndErrors(t *testing.T) {
	ns := testNamespace(t)
	if out := cmd(t, "stats", "-redis", redisURL(t), "-namespace", ns).ok(t); !strings.Contains(out, "no statistics under "+ns+":qs:*") {
		t.Errorf("empty namespace: %q", out)
	}
	for name, tc := range map[string]struct {
		args []string
		code int // 0: any failure
	}{
		"no redis":    {[]string{"stats"}, exitUsage},
		"bad n":       {[]string{"stats", "-redis", redisURL(t), "-n", "0"}, exitUsage},
		"bad db":      {[]string{"stats", "-redis", redisURL(t), "-db", "xyz"}, 0},
		"argument":    {[]string{"stats", "-redis", redisURL(t), "extra"}, exitUsage},
		"advise arg":  {[]string{"advise", "-redis", redisURL(t), "extra"}, exitUsage},
		"advise cost": {[]string{"advise", "-redis", redisURL(t), "-hit-cost", "-1s"}, exitUsage},
	} {
		t.Run(name, func(t *testing.T) {
			r := cmd(t, tc.args...)
			if r.code == exitOK || tc.code != 0 && r.code != tc.code || r.stderr == "" {
				t.Errorf("%v: exit %d, stderr %q; want exit %d and a message", tc.args, r.code, r.stderr, tc.code)
			}
		})
	}
	for _, name := range []string{"stats", "advise"} {
		if r := cmd(t, name, "-h"); r.code != exitOK || !strings.HasPrefix(r.stdout, "usage: cachedsql "+name) {
			t.Errorf("%s -h: exit %d, stdout %q", name, r.code, r.stdout)
		}
	}
}
