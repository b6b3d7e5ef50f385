package testenv

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// ctx returns a context that ends with t or after a few seconds.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestPrefixCleanupDeletesOnlyItsKeys(t *testing.T) {
	rdb := Redis(t)
	outer := Prefix(t)
	keep := outer + "keep"
	if err := rdb.Set(ctx(t), keep, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var inner string
	t.Run("inner", func(t *testing.T) {
		inner = Prefix(t)
		for _, k := range []string{"a", "b", "c:d"} {
			if err := Redis(t).Set(ctx(t), inner+k, "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if !strings.HasPrefix(inner, "cachedsqltest:") || len(inner) != len("cachedsqltest:")+17 {
		t.Errorf("Prefix = %q, want cachedsqltest:<16 hex>:", inner)
	}
	keys, err := rdb.Keys(ctx(t), inner+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("keys left under %s after cleanup: %v, want none", inner, keys)
	}
	if n, err := rdb.Exists(ctx(t), keep).Result(); err != nil || n != 1 {
		t.Errorf("Exists(%s) = %d, %v; want 1, nil", keep, n, err)
	}
}

func TestPostgresOwnSchema(t *testing.T) {
	var schema string
	t.Run("use", func(t *testing.T) {
		dsn := Postgres(t)
		conn, err := pgx.Connect(ctx(t), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(ctx(t), "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(schema, "t_") || !strings.Contains(dsn, "search_path="+schema) {
			t.Errorf("current_schema() = %q with DSN %q, want t_<hex> named in the DSN", schema, dsn)
		}
		if _, err := conn.Exec(ctx(t), "CREATE TABLE items (id int)"); err != nil {
			t.Fatal(err)
		}
	})
	if t.Failed() || schema == "" {
		return
	}
	conn, err := pgx.Connect(ctx(t), PostgresBase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx(t), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n)
	if err != nil || n != 0 {
		t.Errorf("schemas named %s after cleanup = %d, %v; want 0, nil", schema, n, err)
	}
}

func TestInCI(t *testing.T) {
	tests := []struct {
		env  string
		want bool
	}{
		{"true", true},
		{"1", true},
		{"", false},
		{"false", false},
		{"yes", false},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.env, func(t *testing.T) {
			t.Setenv("CI", tt.env)
			if got := InCI(); got != tt.want {
				t.Errorf("InCI() with CI=%q = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}

// TestBurn checks that Burn's goroutines stop when the test ends.
func TestBurn(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("burn", func(t *testing.T) {
		Burn(t)
		if n := runtime.NumGoroutine(); n < before+runtime.GOMAXPROCS(0) {
			t.Errorf("%d goroutines while burning, want at least %d", n, before+runtime.GOMAXPROCS(0))
		}
	})
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the burn, want at most %d", n, before)
	}
}
