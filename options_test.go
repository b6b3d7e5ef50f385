package cachedsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name  string
		opts  cachedsql.Options
		field string // "" for valid options
	}{
		{"zero", cachedsql.Options{}, ""},
		{"negative StoreTimeout", cachedsql.Options{StoreTimeout: -time.Millisecond}, "StoreTimeout"},
		{"negative BreakerCooldown", cachedsql.Options{BreakerCooldown: -time.Second}, "BreakerCooldown"},
		{"negative MaxPending", cachedsql.Options{MaxPending: -1}, "MaxPending"},
		{"negative MemoryMaxBytes", cachedsql.Options{MemoryMaxBytes: -1}, "MemoryMaxBytes"},
		{"negative BreakerThreshold disables the breaker", cachedsql.Options{BreakerThreshold: -1}, ""},
		{"empty hash tag in Namespace", cachedsql.Options{Namespace: "app{}"}, "Namespace"},
		{"hash tag Namespace", cachedsql.Options{Namespace: "{app}"}, ""},
		// Issue 8: without ContextTimeoutEnabled a hung Redis stalled a query for 9s, past StoreTimeout.
		{"client ignoring deadlines", cachedsql.Options{Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})}, "ContextTimeoutEnabled"},
		{"cluster client ignoring deadlines", cachedsql.Options{Redis: redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})}, "ContextTimeoutEnabled"},
		{"client honouring deadlines", cachedsql.Options{Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})}, ""},
	}
	path := sqliteFile(t, "options.db")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(entry string, err error) {
				t.Helper()
				switch {
				case tc.field == "" && err != nil:
					t.Errorf("%s: %v, want no error", entry, err)
				case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field) ||
					!strings.HasPrefix(err.Error(), "cachedsql: ")):
					t.Errorf("%s: error %v, want a cachedsql error naming %s", entry, err, tc.field)
				}
			}
			db, err := cachedsql.Open("sqlite3", path, tc.opts)
			if err == nil {
				db.Close()
			}
			check("Open", err)
			_, err = cachedsql.WrapDriver(&sqlite3.SQLiteDriver{}, tc.opts)
			check("WrapDriver", err)
			withID := tc.opts
			withID.Identity = "options-test"
			c, err := cachedsql.WrapConnector(pgConnector(t), withID)
			if err == nil {
				c.Close()
			}
			check("WrapConnector", err)
			func() {
				defer func() {
					r := recover()
					if (r != nil) != (tc.field != "") {
						t.Errorf("Register: recovered %v, want a panic: %v", r, tc.field != "")
					}
				}()
				cachedsql.Register("sqlite3+options-"+namespace(t), &sqlite3.SQLiteDriver{}, tc.opts)
			}()
		})
	}
}

// pgConnector returns a pgx connector that is never connected.
func pgConnector(t *testing.T) driver.Connector {
	t.Helper()
	cfg, err := pgx.ParseConfig("postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	return stdlib.GetConnector(*cfg)
}

// otherConnector reaches a database of a kind whose identity is not read from the server.
type otherConnector struct{}

func (otherConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("not connected")
}
func (otherConnector) Driver() driver.Driver { return legacyDriver{} }

// TestWrapConnectorNeedsIdentity: a connector says nothing of its database; PostgreSQL reports its
// identity itself, other databases need Options.Identity.
func TestWrapConnectorNeedsIdentity(t *testing.T) {
	c, err := cachedsql.WrapConnector(otherConnector{}, cachedsql.Options{})
	if !errors.Is(err, cachedsql.ErrNoIdentity) || c != nil {
		t.Errorf("WrapConnector without Identity: %v, %v; want ErrNoIdentity", c, err)
	}
	c, err = cachedsql.WrapConnector(pgConnector(t), cachedsql.Options{})
	if err != nil {
		t.Fatalf("WrapConnector of PostgreSQL without Identity: %v", err)
	}
	c.Close()
}

func TestRegisterDuplicatePanics(t *testing.T) {
	name := "sqlite3+duplicate-" + namespace(t)
	cachedsql.Register(name, &sqlite3.SQLiteDriver{}, cachedsql.Options{})
	for _, taken := range []string{name, "sqlite3"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) a second time did not panic", taken)
				}
			}()
			cachedsql.Register(taken, &sqlite3.SQLiteDriver{}, cachedsql.Options{})
		}()
	}
}

func TestOpenBadDriverName(t *testing.T) {
	cached := "sqlite3+already-" + namespace(t)
	cachedsql.Register(cached, &sqlite3.SQLiteDriver{}, cachedsql.Options{})
	for _, name := range []string{"no-such-driver", "", cached} {
		db, err := cachedsql.Open(name, sqliteFile(t, "x.db"), cachedsql.Options{})
		if err == nil {
			db.Close()
			t.Errorf("Open(%q): no error", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "cachedsql: ") {
			t.Errorf("Open(%q): error %q lacks the cachedsql: prefix", name, err)
		}
	}
}

func TestWithTTLSetsEntryTTL(t *testing.T) {
	tests := []struct {
		name     string
		ttl      time.Duration // passed to WithTTL; 0 passes nothing
		min, max time.Duration
	}{
		{"rule TTL", 0, 50 * time.Second, time.Minute},
		{"shorter override", 5 * time.Second, 3 * time.Second, 5 * time.Second},
		{"longer override", time.Hour, 59 * time.Minute, time.Hour},
		{"non-positive override ignored", -time.Second, 50 * time.Second, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, db, rdb, ns := redisSQLite(t, cachedsql.Options{}) // cacheAll: one minute
			ctx := context.Background()
			if tc.ttl != 0 {
				ctx = cachedsql.WithTTL(ctx, tc.ttl)
			}
			queryAll(t, db, ctx, `SELECT name FROM users WHERE id = ?`, 1)
			pttl, err := rdb.PTTL(context.Background(), oneEntryKey(t, rdb, ns)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if pttl < tc.min || pttl > tc.max {
				t.Errorf("stored PTTL %v, want between %v and %v", pttl, tc.min, tc.max)
			}
		})
	}
}

// goroutinesSettle waits, a few seconds at most, for the number of goroutines to fall to want or below,
// and reports the stacks of the extra ones otherwise.
func goroutinesSettle(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), want, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exercise runs reads (misses, hits, early closes), writes, a transaction and a prepared statement.
func exercise(t *testing.T, db *sql.DB, param string) {
	t.Helper()
	ctx := context.Background()
	q := `SELECT id, name FROM users WHERE id >= ` + param + ` ORDER BY id`
	for range 3 {
		queryAll(t, db, ctx, q, 1)
	}
	rows, err := db.QueryContext(ctx, q, 2)
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	rows.Close()
	stmt, err := db.PrepareContext(ctx, `SELECT name FROM users WHERE id = `+param)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := stmt.QueryRowContext(ctx, 1).Scan(&name); err != nil {
		t.Fatal(err)
	}
	stmt.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, `UPDATE users SET name = name WHERE id = `+param, 1)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `UPDATE users SET name = 'x' WHERE id = `+param, 2)
	queryAll(t, db, ctx, q, 1)
}

func TestNoGoroutineLeftAfterClose(t *testing.T) {
	t.Run("sqlite memory store", func(t *testing.T) {
		bare, _ := openSQLite(t, cachedsql.Options{})
		var path string
		if err := bare.QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
			t.Fatal(err)
		}
		bare.Close()
		before := runtime.NumGoroutine()
		db, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Rules: cacheAll(t)})
		if err != nil {
			t.Fatal(err)
		}
		exercise(t, db, "?")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		goroutinesSettle(t, before)
	})
	t.Run("postgres redis store", func(t *testing.T) {
		dsn := testenv.Postgres(t)
		rdb := testenv.Redis(t)
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		bare, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, bare, `CREATE TABLE users (id int PRIMARY KEY, name text)`)
		mustExec(t, bare, `INSERT INTO users VALUES (1, 'ann'), (2, 'bob')`)
		bare.Close()
		before := runtime.NumGoroutine()
		db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{Redis: rdb, Namespace: namespace(t), Rules: cacheAll(t)})
		if err != nil {
			t.Fatal(err)
		}
		exercise(t, db, "$1")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		goroutinesSettle(t, before)
	})
}
