package pgsignal_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/pgsignal"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// freshWithin bounds the time from an outside write to a fresh cached read.
const freshWithin = 100 * time.Millisecond

// env is a schema with an items table, opened bare and through the wrapper on the test's Redis.
type env struct {
	dsn      string
	bare, db *sql.DB
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dsn := testenv.Postgres(t)
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	rs, err := cachedsql.NewRules(cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{Rules: rs, Redis: testenv.Redis(t),
		Namespace: strings.TrimSuffix(testenv.Prefix(t), ":")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{dsn: dsn, bare: bare, db: db}
	e.exec(t, "CREATE TABLE items (id int PRIMARY KEY, name text)")
	e.exec(t, "CREATE TABLE marker (id int)")
	e.exec(t, "INSERT INTO items VALUES (1, 'old'), (2, 'two')")
	return e
}

// exec runs query on the bare connection.
func (e *env) exec(t *testing.T, query string) {
	t.Helper()
	if _, err := e.bare.ExecContext(context.Background(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// name reads item 1's name through the wrapper.
func (e *env) name(t *testing.T) string {
	t.Helper()
	var name string
	if err := e.db.QueryRowContext(context.Background(), "SELECT name FROM items WHERE id = 1").Scan(&name); err != nil {
		t.Fatalf("read: %v", err)
	}
	return name
}

// cacheName reads item 1 twice through the wrapper and checks that the second read was a hit.
func (e *env) cacheName(t *testing.T) {
	t.Helper()
	e.name(t)
	before, _ := cachedsql.StatsOf(e.db)
	if got, want := e.name(t), "old"; got != want {
		t.Fatalf("cached read: got %q, want %q", got, want)
	}
	after, _ := cachedsql.StatsOf(e.db)
	if after.Hits != before.Hits+1 {
		t.Fatalf("second read: hits went from %d to %d, want a hit", before.Hits, after.Hits)
	}
}

// listen starts a listener whose connection reports appName, and closes it when t ends.
func (e *env) listen(t *testing.T, appName string) *pgsignal.Listener {
	t.Helper()
	u, err := url.Parse(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	l, err := pgsignal.Listen(context.Background(), u.String(), e.db, pgsignal.ListenOptions{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReconnectBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	<-l.Ready()
	<-l.Listened()
	return l
}

// triggers counts the triggers Install made in the test's schema.
func (e *env) triggers(t *testing.T) int {
	t.Helper()
	var n int
	err := e.bare.QueryRow(`SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		WHERE g.tgname = 'cachedsql_notify' AND c.relnamespace = current_schema()::regnamespace`).Scan(&n)
	if err != nil {
		t.Fatalf("count triggers: %v", err)
	}
	return n
}

// appName returns an application_name unique to t.
func appName(t *testing.T) string {
	return "pgsignal-" + strings.TrimSuffix(testenv.Prefix(t), ":")
}

// TestOutsideWrite: with the triggers installed, a write on a bare connection makes the next cached
// read fresh within freshWithin; without them the read stays stale, the listener running either way.
func TestOutsideWrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		install   bool
		wantFresh bool
	}{
		{"installed", true, true},
		{"not installed", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.install {
				if err := pgsignal.Install(context.Background(), e.bare, pgsignal.InstallOptions{}); err != nil {
					t.Fatalf("Install: %v", err)
				}
			}
			e.listen(t, appName(t))
			e.cacheName(t)
			e.exec(t, "UPDATE items SET name = 'new' WHERE id = 1")
			deadline := time.Now().Add(freshWithin)
			got := e.name(t)
			for got != "new" && time.Now().Before(deadline) {
				got = e.name(t)
			}
			if fresh := got == "new"; fresh != tc.wantFresh {
				t.Errorf("read within %v of the write: got %q, fresh %v, want fresh %v", freshWithin, got, fresh, tc.wantFresh)
			}
		})
	}
}

// TestOneNotificationPerTransaction: a transaction of several writes to one table notifies once.
func TestOneNotificationPerTransaction(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := pgsignal.Install(ctx, e.bare, pgsignal.InstallOptions{Channel: "pgsignal_once"}); err != nil {
		t.Fatalf("Install: %v", err)
	}
	conn, err := pgx.Connect(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN pgsignal_once"); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `BEGIN; UPDATE items SET name = 'a'; INSERT INTO items VALUES (3, 'c'); DELETE FROM items WHERE id = 2;
		COMMIT`)
	e.exec(t, "INSERT INTO marker VALUES (1)")
	// Notifications arrive in commit order: those of the first transaction come before marker's.
	var got []string
	for len(got) == 0 || got[len(got)-1] != "marker" {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, n.Payload)
	}
	if want := []string{"items", "marker"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("notifications: got %q, want %q", got, want)
	}
}

// TestReconnectInvalidatesAll: after the listener's backend is terminated, a write the triggers never
// reported (none are installed) is seen once the listener listens again.
func TestReconnectInvalidatesAll(t *testing.T) {
	e := newEnv(t)
	name := appName(t)
	l := e.listen(t, name)
	e.cacheName(t)
	var killed int
	err := e.bare.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, name).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate listener backend: killed %d, err %v; want 1, nil", killed, err)
	}
	e.exec(t, "UPDATE items SET name = 'new' WHERE id = 1")
	select {
	case <-l.Listened():
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not listen again within 10s")
	}
	if got, want := e.name(t), "new"; got != want {
		t.Errorf("read after reconnect: got %q, want %q", got, want)
	}
}

// TestInstallIdempotent: installing twice leaves one trigger per table; Uninstall removes them all
// and the function, and running it again is not an error.
func TestInstallIdempotent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for i := range 2 {
		if err := pgsignal.Install(ctx, e.bare, pgsignal.InstallOptions{}); err != nil {
			t.Fatalf("Install #%d: %v", i+1, err)
		}
		if got, want := e.triggers(t), 2; got != want {
			t.Fatalf("after Install #%d: got %d triggers, want %d", i+1, got, want)
		}
	}
	for i := range 2 {
		if err := pgsignal.Uninstall(ctx, e.bare); err != nil {
			t.Fatalf("Uninstall #%d: %v", i+1, err)
		}
	}
	if got := e.triggers(t); got != 0 {
		t.Errorf("after Uninstall: got %d triggers, want 0", got)
	}
	var fn sql.NullString
	if err := e.bare.QueryRow("SELECT to_regprocedure('cachedsql_notify()')::text").Scan(&fn); err != nil {
		t.Fatal(err)
	}
	if fn.Valid {
		t.Errorf("after Uninstall: function %s still exists", fn.String)
	}
}

// TestInstallTables: named tables only are covered; bad options are refused.
func TestInstallTables(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := pgsignal.Install(ctx, e.bare, pgsignal.InstallOptions{Tables: []string{"items"}}); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if got, want := e.triggers(t), 1; got != want {
		t.Errorf("got %d triggers, want %d", got, want)
	}
	for _, opts := range []pgsignal.InstallOptions{
		{Tables: []string{"missing"}},
		{Tables: []string{" "}},
		{Channel: strings.Repeat("c", 64)},
	} {
		if err := pgsignal.Install(ctx, e.bare, opts); err == nil {
			t.Errorf("Install(%+v): got nil error, want one", opts)
		}
	}
}

// TestClose: Close stops the goroutine and the connection, and may be called twice.
func TestClose(t *testing.T) {
	e := newEnv(t)
	name := appName(t)
	l := e.listen(t, name)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The goroutine signals Close from a deferred call, so it may still be on its way out when Close
	// returns: on a loaded machine, give it a moment.
	buf := make([]byte, 1<<20)
	for wait := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "pgsignal.(*Listener).run") {
			break
		}
		if time.Now().After(wait) {
			t.Errorf("listener goroutine still running after Close:\n%s", stacks)
			break
		}
	}
	var n int
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := e.bare.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
	}
	if n != 0 {
		t.Errorf("after Close: %d backends named %q, want 0", n, name)
	}
}
