// Package drivertest holds the tests shared by the blank-import driver packages (drivers/pgx,
// drivers/sqlite3): each registers a caching driver configured from the environment, and both must
// behave alike.
package drivertest

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// Driver describes one driver package under test.
type Driver struct {
	// Name is the name the package registers.
	Name string
	// DSN returns a data source name of a fresh database (or schema) for t.
	DSN func(t *testing.T) string
	// Dollar says the database's placeholders are $n rather than ?.
	Dollar bool
}

// Testdata is the repository's testdata folder, seen from a driver package's folder.
var Testdata = filepath.Join("..", "..", "testdata")

// FromEnv checks a driver configured from the environment (rule file, Redis URL, namespace, store
// timeout): reads are cached under the file's rule, a write invalidates them, the entries are in Redis.
// It must be the only test of its package that opens the driver, which reads the environment once per
// process.
func FromEnv(t *testing.T, d Driver) {
	rdb := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	t.Setenv(cachedsql.EnvRules, filepath.Join(Testdata, "env", "rules.yaml"))
	t.Setenv(cachedsql.EnvRedisURL, "redis://"+testenv.RedisAddr(t)+"/0")
	t.Setenv(cachedsql.EnvNamespace, strings.TrimSuffix(prefix, ":"))
	t.Setenv(cachedsql.EnvStoreTimeout, "2s") // the test machine is loaded: exact hit counts need slack
	db, err := sql.Open(d.Name, d.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	query := `SELECT name FROM env_items WHERE id = ?`
	if d.Dollar {
		query = `SELECT name FROM env_items WHERE id = $1`
	}
	read := func() (s string) {
		t.Helper()
		if err := db.QueryRowContext(ctx, query, 1).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	exec(`CREATE TABLE env_items (id INTEGER PRIMARY KEY, name TEXT)`)
	exec(`INSERT INTO env_items (id, name) VALUES (1, 'one')`)
	for i := range 2 {
		if got := read(); got != "one" {
			t.Fatalf("read %d: %q, want one", i, got)
		}
	}
	exec(`UPDATE env_items SET name = 'uno' WHERE id = 1`)
	if got := read(); got != "uno" {
		t.Errorf("read after a write: %q, want uno", got)
	}
	st, ok := cachedsql.StatsOf(db)
	if !ok {
		t.Fatal("StatsOf: not a caching database")
	}
	if r := st.Rules["env-items"]; r.Hits != 1 || r.Misses != 2 {
		t.Errorf("rule env-items from the rule file: %+v, want 1 hit and 2 misses", r)
	}
	keys, err := rdb.Keys(ctx, prefix+"q:*").Result()
	if err != nil || len(keys) != 1 {
		t.Errorf("entries in Redis under %s: %v, %v; want one", prefix, keys, err)
	}
}

// childEnv marks the child process of BadRulesFromEnv.
const childEnv = "CACHEDSQL_DRIVER_TEST_CHILD"

// BadRulesFromEnv runs the test named testName again in a child process whose environment names a rule
// file with a mistake (the driver reads the environment once per process): in the child, the first use
// of the driver must fail with the file and line of the mistake. badDSN names a database the child
// never reaches.
func BadRulesFromEnv(t *testing.T, d Driver, testName, badDSN string) {
	bad := filepath.Join(Testdata, "env", "bad-rules.yaml")
	want := bad + ":7:"
	if os.Getenv(childEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1", cachedsql.EnvRules+"="+bad)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("child output does not name %s:\n%s", want, out)
		}
		return
	}
	db, err := sql.Open(d.Name, badDSN)
	if err == nil {
		err = db.Ping()
		db.Close()
	}
	if err == nil {
		t.Fatalf("opened the driver with %s=%s, want an error", cachedsql.EnvRules, bad)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
	t.Logf("first use failed as it should: %v", err)
}
