package sqlite3_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
	sqlite3cache "github.com/cachedsql/cachedsql/drivers/sqlite3"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestDriverFromEnv is the only test of this package that opens the driver: the driver reads the
// environment once per process, at first use.
func TestDriverFromEnv(t *testing.T) {
	rdb := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	ns := prefix[:len(prefix)-1]
	t.Setenv(cachedsql.EnvRules, filepath.Join("..", "..", "testdata", "env", "rules.yaml"))
	t.Setenv(cachedsql.EnvRedisURL, "redis://"+testenv.RedisAddr(t)+"/0")
	t.Setenv(cachedsql.EnvNamespace, ns)
	t.Setenv(cachedsql.EnvStoreTimeout, "2s") // the test machine is loaded: exact hit counts need slack
	db, err := sql.Open(sqlite3cache.DriverName, filepath.Join(t.TempDir(), "app.db"))
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
	read := func() (s string) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `SELECT name FROM env_items WHERE id = ?`, 1).Scan(&s); err != nil {
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

// childEnv marks the child process of TestDriverBadRulesFromEnv.
const childEnv = "CACHEDSQL_DRIVER_TEST_CHILD"

// TestDriverBadRulesFromEnv runs itself in a child process whose environment names a rule file with a
// mistake (the driver reads the environment once per process): the first use of the driver must fail
// with the file and line of the mistake.
func TestDriverBadRulesFromEnv(t *testing.T) {
	bad := filepath.Join("..", "..", "testdata", "env", "bad-rules.yaml")
	if os.Getenv(childEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDriverBadRulesFromEnv$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1", cachedsql.EnvRules+"="+bad)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if want := bad + ":7:"; !strings.Contains(string(out), want) {
			t.Errorf("child output does not name %s:\n%s", want, out)
		}
		return
	}
	db, err := sql.Open(sqlite3cache.DriverName, filepath.Join(t.TempDir(), "bad.db"))
	if err == nil {
		err = db.Ping()
		db.Close()
	}
	if err == nil {
		t.Fatalf("opened the driver with %s=%s, want an error", cachedsql.EnvRules, bad)
	}
	if want := bad + ":7:"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
	t.Logf("first use failed as it should: %v", err)
}
