package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// openEnv registers a new environment-configured SQLite driver, opens path with it and returns the
// database, or the error of its first use.
func openEnv(t *testing.T, path string) (*sql.DB, error) {
	t.Helper()
	name := "sqlite3+env-" + namespace(t)
	cachedsql.RegisterFromEnv(name, &sqlite3.SQLiteDriver{})
	db, err := sql.Open(name, path)
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	t.Cleanup(func() { db.Close() })
	return db, nil
}

func TestRegisterFromEnvErrors(t *testing.T) {
	tests := []struct {
		name, env, value string
		want             []string // substrings of the error
	}{
		{"bad rule file", cachedsql.EnvRules, "testdata/env/bad-rules.yaml",
			[]string{cachedsql.EnvRules, "testdata/env/bad-rules.yaml:7:", "bad regexp"}},
		{"missing rule file", cachedsql.EnvRules, "testdata/env/no-such.yaml",
			[]string{cachedsql.EnvRules, "testdata/env/no-such.yaml"}},
		{"bad Redis URL", cachedsql.EnvRedisURL, "http://127.0.0.1:6379",
			[]string{cachedsql.EnvRedisURL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(cachedsql.EnvRules, "")
			t.Setenv(cachedsql.EnvRedisURL, "")
			t.Setenv(cachedsql.EnvNamespace, "")
			t.Setenv(tc.env, tc.value)
			db, err := openEnv(t, sqliteFile(t, "env.db"))
			if err == nil {
				t.Fatalf("opened %v with %s=%s, want an error", db, tc.env, tc.value)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "cachedsql: ") {
				t.Errorf("error %q lacks the cachedsql: prefix", err)
			}
			if tc.env == cachedsql.EnvRules && tc.name == "bad rule file" {
				var re *cachedsql.RuleError
				if !errors.As(err, &re) || re.Line != 7 || re.File != tc.value {
					t.Errorf("error %v: want a *RuleError at %s line 7", err, tc.value)
				}
			}
		})
	}
}

func TestRegisterFromEnvConfigured(t *testing.T) {
	rdb := testenv.Redis(t)
	ns := namespace(t)
	t.Setenv(cachedsql.EnvRules, "testdata/env/rules.yaml")
	t.Setenv(cachedsql.EnvRedisURL, "redis://"+testenv.RedisAddr(t)+"/0")
	t.Setenv(cachedsql.EnvNamespace, ns)
	db, err := openEnv(t, sqliteFile(t, "env.db"))
	if err != nil {
		t.Fatal(err)
	}
	checkEnvDriver(t, db, "?")
	if keys := scanKeys(t, rdb, ns+":q:*"); len(keys) != 1 {
		t.Errorf("entries under the configured namespace: %v, want one", keys)
	}
}

func TestRegisterFromEnvUnset(t *testing.T) {
	t.Setenv(cachedsql.EnvRules, "")
	t.Setenv(cachedsql.EnvRedisURL, "")
	t.Setenv(cachedsql.EnvNamespace, "")
	db, err := openEnv(t, sqliteFile(t, "env.db"))
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `CREATE TABLE env_items (id INTEGER PRIMARY KEY, name TEXT)`)
	for range 2 {
		queryAll(t, db, context.Background(), `SELECT name FROM env_items`)
	}
	if st := stats(t, db); st.Hits != 0 || st.Misses != 0 || st.Bypasses[cachedsql.BypassNoRule] != 2 {
		t.Errorf("without rules: %+v, want every read bypassed for no rule", st)
	}
}

// checkEnvDriver checks a database opened through a driver configured with testdata/env/rules.yaml:
// reads of env_items are cached under the rule env-items, writes invalidate them, other reads are not.
// param is the driver's first placeholder.
func checkEnvDriver(t *testing.T, db *sql.DB, param string) {
	t.Helper()
	ctx := context.Background()
	mustExec(t, db, `CREATE TABLE env_items (id INTEGER PRIMARY KEY, name TEXT)`)
	mustExec(t, db, `INSERT INTO env_items (id, name) VALUES (1, 'one')`)
	q := `SELECT name FROM env_items WHERE id = ` + param
	read := func() string {
		t.Helper()
		var s string
		if err := db.QueryRowContext(ctx, q, 1).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	read()
	read()
	mustExec(t, db, `UPDATE env_items SET name = 'uno' WHERE id = 1`)
	if got := read(); got != "uno" {
		t.Errorf("read after a write: %q, want uno", got)
	}
	queryAll(t, db, ctx, `SELECT 1`)
	st, ok := cachedsql.StatsOf(db)
	if !ok {
		t.Fatal("StatsOf: not a caching database")
	}
	if r := st.Rules["env-items"]; r.Hits != 1 || r.Misses != 2 {
		t.Errorf("rule env-items: %+v, want 1 hit and 2 misses (stats %+v)", r, st)
	}
	if st.Bypasses[cachedsql.BypassNoRule] != 1 {
		t.Errorf("bypasses %v, want one for no rule", st.Bypasses)
	}
}

// TestRedisURLClientFailsOpen: the client built from CACHEDSQL_REDIS_URL lets StoreTimeout cut its I/O
// and does not retry a failed command (the read goes to the database at once), unless the URL says
// max_retries.
func TestRedisURLClientFailsOpen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want int
	}{
		// go-redis keeps "no retries" (-1 in the options given) as 0, and the default as 3.
		{"redis://127.0.0.1:6379/0", 0},
		{"redis://127.0.0.1:6379/0?max_retries=2", 2},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001", -1}, // a cluster client keeps -1 (its nodes get 0)
	} {
		o, err := cachedsql.OptionsFromLookup(func(k string) string {
			if k == cachedsql.EnvRedisURL {
				return tc.url
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		var retries int
		var timeouts bool
		switch c := o.Redis.(type) {
		case *redis.Client:
			retries, timeouts = c.Options().MaxRetries, c.Options().ContextTimeoutEnabled
		case *redis.ClusterClient:
			retries, timeouts = c.Options().MaxRetries, c.Options().ContextTimeoutEnabled
		default:
			t.Fatalf("%s: client %T", tc.url, o.Redis)
		}
		o.Redis.Close()
		if retries != tc.want || !timeouts {
			t.Errorf("%s: MaxRetries %d, ContextTimeoutEnabled %v; want %d, true", tc.url, retries, timeouts, tc.want)
		}
	}
}
