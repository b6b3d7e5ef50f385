package cachedsql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// Issue 8, item 4: the identity behind generation tokens comes from the server, and entries are keyed by
// the effective role and the result-affecting session settings.

// sharedOpts are the default options with a store and a namespace that several handles share.
func sharedOpts(t *testing.T) cachedsql.Options {
	t.Helper()
	return cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t), Rules: cacheAll(t)}
}

func openCached(t *testing.T, dsn string, opts cachedsql.Options) *sql.DB {
	t.Helper()
	db, err := cachedsql.Open("pgx", dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openBare(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryText(t *testing.T, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, args ...any) string {
	t.Helper()
	var s string
	if err := db.QueryRowContext(context.Background(), query, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

// TestIdentityIssue8DSNSpelling: two handles on one database whose DSNs differ only in spelling share
// generation tokens, so a write through one is seen by the other's next read. Before the fix each got an
// identity of its own from the DSN text, and the reader kept serving the old row.
func TestIdentityIssue8DSNSpelling(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare := openBare(t, dsn)
	mustExec(t, bare, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	sslPrefer := strings.Replace(dsn, "sslmode=disable", "sslmode=prefer", 1)
	if sslPrefer == dsn {
		sslPrefer = withParam(dsn, "sslmode", "prefer")
	}
	variants := []struct{ name, dsn string }{
		{"application_name", withParam(dsn, "application_name", "other_app")},
		{"sslmode", sslPrefer},
		{"connect_timeout", withParam(dsn, "connect_timeout", "7")},
		{"default_query_exec_mode", withParam(dsn, "default_query_exec_mode", "simple_protocol")},
		{"localhost", strings.Replace(dsn, "127.0.0.1", "localhost", 1)},
	}
	for i, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			mustExec(t, bare, `INSERT INTO kv VALUES ($1, 'before')`, i)
			opts := sharedOpts(t)
			writer, reader := openCached(t, dsn, opts), openCached(t, v.dsn, opts)
			const q = `SELECT v FROM kv WHERE k = $1`
			for range 2 {
				if got := queryText(t, reader, q, i); got != "before" {
					t.Fatalf("first read = %q, want before", got)
				}
			}
			mustExec(t, writer, `UPDATE kv SET v = 'after' WHERE k = $1`, i)
			if got := queryText(t, reader, q, i); got != "after" {
				t.Errorf("read through the %s spelling after a write through the other = %q, want after (stale)", v.name, got)
			}
			// And the other way round.
			mustExec(t, reader, `UPDATE kv SET v = 'again' WHERE k = $1`, i)
			queryText(t, writer, q, i)
			mustExec(t, reader, `UPDATE kv SET v = 'last' WHERE k = $1`, i)
			if got := queryText(t, writer, q, i); got != "last" {
				t.Errorf("read through the base DSN after a write through the %s spelling = %q, want last (stale)", v.name, got)
			}
		})
	}
}

// createRoles creates n login roles of unique names, dropped (with their privileges) when t ends.
func createRoles(t *testing.T, admin *sql.DB, n int) []string {
	t.Helper()
	roles := make([]string, n)
	for i := range roles {
		roles[i] = fmt.Sprintf("cq_role_%d_%s", i, strings.ToLower(rand.Text()[:10]))
		mustExec(t, admin, `CREATE ROLE `+roles[i]+` LOGIN`)
	}
	t.Cleanup(func() {
		for _, r := range roles {
			for _, q := range []string{`DROP OWNED BY ` + r, `DROP ROLE ` + r} {
				if _, err := admin.Exec(q); err != nil {
					t.Errorf("%s: %v", q, err)
				}
			}
		}
	})
	return roles
}

// withoutUser returns a URL DSN with no user: pgx then takes it from PGUSER.
func withoutUser(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = nil
	return u.String()
}

// TestIdentityIssue8RoleFromEnvironment: two handles whose DSN is the same text but whose user comes
// from PGUSER are two roles; with row-level security each must see only its own rows. Before the fix
// both had one identity (the DSN text) and the second role was served the first role's rows.
func TestIdentityIssue8RoleFromEnvironment(t *testing.T) {
	dsn := testenv.Postgres(t)
	schema := schemaOf(t, dsn)
	bare := openBare(t, dsn)
	roles := createRoles(t, bare, 2)
	mustExec(t, bare, `CREATE TABLE docs (owner text, body text)`)
	mustExec(t, bare, `INSERT INTO docs VALUES ($1, 'secret of one'), ($2, 'secret of two')`, roles[0], roles[1])
	mustExec(t, bare, `ALTER TABLE docs ENABLE ROW LEVEL SECURITY`)
	mustExec(t, bare, `CREATE POLICY own ON docs USING (owner = current_user)`)
	for _, r := range roles {
		mustExec(t, bare, `GRANT USAGE ON SCHEMA `+schema+` TO `+r)
		mustExec(t, bare, `GRANT SELECT, UPDATE ON docs TO `+r)
	}
	noUser := withoutUser(t, dsn)
	opts := sharedOpts(t)
	// pgx reads PGUSER when it connects: each handle opens its connection while the variable names
	// its role, as two processes with different environments would.
	t.Setenv("PGUSER", roles[0])
	one := openCached(t, noUser, opts)
	if err := one.Ping(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGUSER", roles[1])
	two := openCached(t, noUser, opts)
	if err := two.Ping(); err != nil {
		t.Fatal(err)
	}

	const q = `SELECT string_agg(body, ',' ORDER BY body) FROM docs`
	for range 2 {
		if got := queryText(t, one, q); got != "secret of one" {
			t.Fatalf("role one reads %q, want its own row only", got)
		}
	}
	for range 2 {
		if got := queryText(t, two, q); got != "secret of two" {
			t.Fatalf("role two reads %q, want its own row only (served role one's rows)", got)
		}
	}
	// Tokens stay shared across roles: a write by one role invalidates the other's entries.
	mustExec(t, bare, `ALTER TABLE docs DISABLE ROW LEVEL SECURITY`)
	mustExec(t, one, `UPDATE docs SET body = body || '!'`)
	if got := queryText(t, two, q); got != "secret of one!,secret of two!" {
		t.Errorf("role two after role one's write = %q, want both rows updated", got)
	}
}

// TestIdentityIssue8SessionSettings: handles on one database whose sessions differ in a setting that
// changes results share tokens but never entries.
func TestIdentityIssue8SessionSettings(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare := openBare(t, dsn)
	mustExec(t, bare, `CREATE TABLE ev (id int PRIMARY KEY, at timestamptz, d date, iv interval, f float8, b bytea)`)
	mustExec(t, bare, `INSERT INTO ev VALUES (1, '2024-01-02 03:04:05+00', '2024-02-29', '1 day 2 hours', 0.1, '\x0102')`)
	other := testenv.Postgres(t) // another schema with a table of the same name
	otherBare := openBare(t, other)
	mustExec(t, otherBare, `CREATE TABLE ev (id int PRIMARY KEY, at timestamptz, d date, iv interval, f float8, b bytea)`)
	mustExec(t, otherBare, `INSERT INTO ev VALUES (1, '1999-01-01 00:00:00+00', '1999-01-01', '3 days', 0.5, '\xff')`)
	cases := []struct{ name, a, b, expr string }{
		{"TimeZone", withParam(dsn, "timezone", "UTC"), withParam(dsn, "timezone", "Asia/Tokyo"), "at::text"},
		{"DateStyle", withParam(dsn, "datestyle", "ISO,MDY"), withParam(dsn, "datestyle", "German"), "d::text"},
		{"IntervalStyle", withParam(dsn, "intervalstyle", "postgres"), withParam(dsn, "intervalstyle", "iso_8601"), "iv::text"},
		{"extra_float_digits", withParam(dsn, "extra_float_digits", "0"), withParam(dsn, "extra_float_digits", "3"), "(f + 0.2)::text"},
		{"bytea_output", withParam(dsn, "bytea_output", "hex"), withParam(dsn, "bytea_output", "escape"), "b::text"},
		{"search_path", dsn, other, "at::text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := `SELECT ` + c.expr + ` FROM ev WHERE id = $1`
			want := map[string]string{"a": queryText(t, openBare(t, c.a), q, 1), "b": queryText(t, openBare(t, c.b), q, 1)}
			if want["a"] == want["b"] {
				t.Fatalf("the two sessions read the same text %q: the case shows nothing", want["a"])
			}
			opts := sharedOpts(t)
			dbs := map[string]*sql.DB{"a": openCached(t, c.a, opts), "b": openCached(t, c.b, opts)}
			for _, name := range []string{"a", "b", "a", "b"} {
				if got := queryText(t, dbs[name], q, 1); got != want[name] {
					t.Errorf("session %s read %q, want %q (another session's entry)", name, got, want[name])
				}
			}
			if c.name == "search_path" {
				return
			}
			mustExec(t, dbs["b"], `UPDATE ev SET f = f + 1`)
			if got, w := queryText(t, dbs["a"], `SELECT f::text FROM ev WHERE id = $1`, 1), queryText(t, bare, `SELECT f::text FROM ev WHERE id = $1`, 1); got != w {
				t.Errorf("session a after session b's write = %q, want %q (stale)", got, w)
			}
		})
	}
}

// TestIdentityIssue8CustomSetting: a custom setting named in Options.SessionSettings (here the tenant
// a row-level security policy reads) keys entries, so tenants with one role never share rows.
func TestIdentityIssue8CustomSetting(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare := openBare(t, dsn)
	schema := schemaOf(t, dsn)
	roles := createRoles(t, bare, 1)
	mustExec(t, bare, `CREATE TABLE notes (tenant text, body text)`)
	mustExec(t, bare, `INSERT INTO notes VALUES ('a', 'note of a'), ('b', 'note of b')`)
	mustExec(t, bare, `ALTER TABLE notes ENABLE ROW LEVEL SECURITY`)
	mustExec(t, bare, `CREATE POLICY tenant ON notes USING (tenant = current_setting('app.tenant', true))`)
	mustExec(t, bare, `GRANT USAGE ON SCHEMA `+schema+` TO `+roles[0])
	mustExec(t, bare, `GRANT SELECT ON notes TO `+roles[0])
	u, _ := url.Parse(dsn)
	u.User = url.User(roles[0])
	opts := sharedOpts(t)
	opts.SessionSettings = []string{"app.tenant", "app.it's"} // a quote in a name is quoted, not run
	a := openCached(t, withParam(u.String(), "options", "-c%20app.tenant%3Da"), opts)
	b := openCached(t, withParam(u.String(), "options", "-c%20app.tenant%3Db"), opts)
	const q = `SELECT string_agg(body, ',') FROM notes`
	for _, step := range []struct {
		db   *sql.DB
		want string
	}{{a, "note of a"}, {a, "note of a"}, {b, "note of b"}, {b, "note of b"}} {
		if got := queryText(t, step.db, q); got != step.want {
			t.Errorf("read %q, want %q (another tenant's entry)", got, step.want)
		}
	}
}

// otherDatabase returns a DSN of the database "postgres" on dsn's server, whose search_path is a schema
// of the same name as dsn's (created, and dropped when t ends), and a bare handle on it.
func otherDatabase(t *testing.T, dsn string) (string, *sql.DB) {
	t.Helper()
	schema := schemaOf(t, dsn)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	other := openBare(t, u.String())
	mustExec(t, other, `CREATE SCHEMA `+schema)
	t.Cleanup(func() {
		if _, err := other.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s in postgres: %v", schema, err)
		}
	})
	return u.String(), other
}

// switchingConnector connects to first for its first connection and to then for every later one: a
// multi-host DSN that fails over to another cluster looks like this to the cache.
type switchingConnector struct {
	n           atomic.Int32
	first, then driver.Connector
}

func (c *switchingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.n.Add(1) == 1 {
		return c.first.Connect(ctx)
	}
	return c.then.Connect(ctx)
}

func (c *switchingConnector) Driver() driver.Driver { return c.first.Driver() }

func pgxConnector(t *testing.T, dsn string) driver.Connector {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return stdlib.GetConnector(*cfg)
}

// TestIdentityIssue8OtherDatabaseConnection: a connection of one *sql.DB that reaches another database
// than the first (a failover to another cluster) neither serves nor fills the first database's entries,
// and its writes invalidate the entries of the database it reached.
func TestIdentityIssue8OtherDatabaseConnection(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare := openBare(t, dsn)
	otherDSN, otherBare := otherDatabase(t, dsn)
	mustExec(t, bare, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	mustExec(t, bare, `INSERT INTO kv VALUES (1, 'in test')`)
	mustExec(t, otherBare, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	mustExec(t, otherBare, `INSERT INTO kv VALUES (1, 'in postgres')`)

	opts := sharedOpts(t)
	c, err := cachedsql.WrapConnector(&switchingConnector{first: pgxConnector(t, dsn), then: pgxConnector(t, otherDSN)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	c1, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	const q = `SELECT v FROM kv WHERE k = $1`
	for range 2 {
		if got := queryText(t, c1, q, 1); got != "in test" {
			t.Fatalf("first connection reads %q, want in test", got)
		}
	}
	c2, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for range 2 {
		if got := queryText(t, c2, q, 1); got != "in postgres" {
			t.Fatalf("second connection (another database) reads %q, want in postgres", got)
		}
	}
	// A handle opened on the other database caches its row; a write through c2 must reach it.
	direct := openCached(t, otherDSN, opts)
	queryText(t, direct, q, 1)
	queryText(t, direct, q, 1)
	if _, err := c2.ExecContext(ctx, `UPDATE kv SET v = 'changed in postgres' WHERE k = 1`); err != nil {
		t.Fatal(err)
	}
	if got := queryText(t, direct, q, 1); got != "changed in postgres" {
		t.Errorf("handle on the other database after a write through c2 = %q, want the new row (stale)", got)
	}
	if got := queryText(t, c1, q, 1); got != "in test" {
		t.Errorf("first connection after the other database's write = %q, want in test", got)
	}
}

// TestIdentityInvalidateBeforeFirstConnection: Invalidate on a handle that has not connected yet learns
// the identity first, so its invalidation reaches the handles that read through the same database.
func TestIdentityInvalidateBeforeFirstConnection(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare := openBare(t, dsn)
	mustExec(t, bare, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	mustExec(t, bare, `INSERT INTO kv VALUES (1, 'before')`)
	opts := sharedOpts(t)
	reader := openCached(t, dsn, opts)
	queryText(t, reader, `SELECT v FROM kv WHERE k = 1`)
	mustExec(t, bare, `UPDATE kv SET v = 'after'`)
	fresh := openCached(t, withParam(dsn, "application_name", "invalidator"), opts)
	if err := cachedsql.Invalidate(context.Background(), fresh, "kv"); err != nil {
		t.Fatal(err)
	}
	if got := queryText(t, reader, `SELECT v FROM kv WHERE k = 1`); got != "after" {
		t.Errorf("read after Invalidate through another handle = %q, want after", got)
	}
}

// countingConn counts the identity queries run on a pgx connection.
type countingConn struct {
	driver.Conn
	n *atomic.Int32
}

func (c countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if strings.Contains(q, "pg_control_system") {
		c.n.Add(1)
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

type countingConnector struct {
	driver.Connector
	n *atomic.Int32
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return countingConn{conn, c.n}, nil
}

// TestIdentityReadOncePerConnection: the identity and session are read once per new connection (one
// round trip), never per query.
func TestIdentityReadOncePerConnection(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare := openBare(t, dsn)
	mustExec(t, bare, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	mustExec(t, bare, `INSERT INTO kv VALUES (1, 'one')`)
	var n atomic.Int32
	c, err := cachedsql.WrapConnector(countingConnector{pgxConnector(t, dsn), &n}, sharedOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	for range 20 {
		queryText(t, db, `SELECT v FROM kv WHERE k = $1`, 1)
		mustExec(t, db, `UPDATE kv SET v = 'one' WHERE k = 1`)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("identity queries on one connection over 40 statements: %d, want 1", got)
	}
}

// TestIdentityLaterConnectionOtherSession: a connection that opens with another session than the
// handle's first (here a role default changed in between) reads from the database, never the first
// session's entries.
func TestIdentityLaterConnectionOtherSession(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare := openBare(t, dsn)
	schema := schemaOf(t, dsn)
	roles := createRoles(t, bare, 1)
	mustExec(t, bare, `CREATE TABLE ev (id int PRIMARY KEY, at timestamptz)`)
	mustExec(t, bare, `INSERT INTO ev VALUES (1, '2024-01-02 03:04:05+00')`)
	mustExec(t, bare, `GRANT USAGE ON SCHEMA `+schema+` TO `+roles[0])
	mustExec(t, bare, `GRANT SELECT ON ev TO `+roles[0])
	mustExec(t, bare, `ALTER ROLE `+roles[0]+` SET timezone = 'UTC'`)
	u, _ := url.Parse(dsn)
	u.User = url.User(roles[0])
	db := openCached(t, u.String(), sharedOpts(t))
	ctx := context.Background()
	const q = `SELECT at::text FROM ev WHERE id = $1`
	c1, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	first := queryText(t, c1, q, 1)
	queryText(t, c1, q, 1)
	mustExec(t, bare, `ALTER ROLE `+roles[0]+` SET timezone = 'Asia/Tokyo'`)
	c2, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := queryText(t, c2, q, 1); got == first || !strings.HasSuffix(got, "+09") {
		t.Errorf("a connection opened in Asia/Tokyo read %q (the first connection read %q)", got, first)
	}
}

// TestResolveIdentity: every spelling of one database resolves to one identity, and another database to
// another.
func TestResolveIdentity(t *testing.T) {
	dsn := testenv.PostgresBase(t)
	ctx := context.Background()
	id, err := cachedsql.ResolveIdentity(ctx, "pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{withParam(dsn, "application_name", "x"), strings.Replace(dsn, "127.0.0.1", "localhost", 1)} {
		if got, err := cachedsql.ResolveIdentity(ctx, "pgx", v); err != nil || got != id {
			t.Errorf("ResolveIdentity(%s) = %q, %v; want %q", v, got, err, id)
		}
	}
	u, _ := url.Parse(dsn)
	u.Path = "/postgres"
	if got, err := cachedsql.ResolveIdentity(ctx, "pgx", u.String()); err != nil || got == id {
		t.Errorf("ResolveIdentity of another database = %q, %v; want another identity than %q", got, err, id)
	}
}

// TestIdentityIssue8RoleRowRule: row entries (Redis hashes of a row rule, with write-through) are kept
// per role too: a row one role may read is never served to a role the policy hides it from, while the
// row's token stays shared, so a write by either role invalidates both.
func TestIdentityIssue8RoleRowRule(t *testing.T) {
	dsn := testenv.Postgres(t)
	schema := schemaOf(t, dsn)
	bare := openBare(t, dsn)
	roles := createRoles(t, bare, 2)
	mustExec(t, bare, `CREATE TABLE docs (id int PRIMARY KEY, owner text, body text)`)
	mustExec(t, bare, `INSERT INTO docs VALUES (1, $1, 'one'), (2, $2, 'two')`, roles[0], roles[1])
	mustExec(t, bare, `ALTER TABLE docs ENABLE ROW LEVEL SECURITY`)
	mustExec(t, bare, `CREATE POLICY own ON docs USING (owner = current_user OR id = 2)`)
	for _, r := range roles {
		mustExec(t, bare, `GRANT USAGE ON SCHEMA `+schema+` TO `+r)
		mustExec(t, bare, `GRANT SELECT, UPDATE ON docs TO `+r)
	}
	const q = `SELECT body FROM docs WHERE id = $1`
	opts := sharedOpts(t)
	opts.Rules = mustRules(t, cachedsql.Rule{Name: "doc", Match: cachedsql.Match{SQL: q}, Key: []string{"id"},
		TTL: time.Minute, WriteThrough: true})
	u, _ := url.Parse(dsn)
	dbs := make([]*sql.DB, 2)
	for i, r := range roles {
		u.User = url.User(r)
		dbs[i] = openCached(t, u.String(), opts)
	}
	for range 2 {
		if got := queryText(t, dbs[0], q, 1); got != "one" {
			t.Fatalf("owner reads %q, want one", got)
		}
	}
	var body string
	if err := dbs[1].QueryRow(q, 1).Scan(&body); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("another role read row 1: %q, %v; want no row (served the owner's row entry)", body, err)
	}
	// Row 2 is visible to both: a write through either role invalidates the other's row entry.
	for range 2 {
		queryText(t, dbs[0], q, 2)
		queryText(t, dbs[1], q, 2)
	}
	mustExec(t, dbs[1], `UPDATE docs SET body = 'two by r1' WHERE id = $1`, 2)
	if got := queryText(t, dbs[0], q, 2); got != "two by r1" {
		t.Errorf("role 0 after role 1's write = %q, want two by r1 (stale)", got)
	}
	mustExec(t, dbs[0], `UPDATE docs SET body = 'two by r0' WHERE id = $1`, 2)
	if got := queryText(t, dbs[1], q, 2); got != "two by r0" {
		t.Errorf("role 1 after role 0's write = %q, want two by r0 (stale)", got)
	}
}

// blindConn fails the identity queries, as a PostgreSQL-compatible server lacking those functions would.
type blindConn struct{ driver.Conn }

func (c blindConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if strings.Contains(q, "pg_is_in_recovery") {
		return nil, errors.New("function pg_is_in_recovery() does not exist")
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

// blindSecond connects normally first, then with blindConn.
type blindSecond struct {
	driver.Connector
	n atomic.Int32
}

func (c *blindSecond) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil || c.n.Add(1) == 1 {
		return conn, err
	}
	return blindConn{conn}, nil
}

// TestIdentityUnreadable: a connection whose identity cannot be read still works (no error, correct
// rows), bypasses the cache for its reads, and its writes invalidate the cache's database.
func TestIdentityUnreadable(t *testing.T) {
	dsn := testenv.Postgres(t)
	bare := openBare(t, dsn)
	mustExec(t, bare, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	mustExec(t, bare, `INSERT INTO kv VALUES (1, 'before')`)
	opts := sharedOpts(t)
	c, err := cachedsql.WrapConnector(&blindSecond{Connector: pgxConnector(t, dsn)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	other := openCached(t, dsn, opts)
	ctx := context.Background()
	c1, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	const q = `SELECT v FROM kv WHERE k = $1`
	for range 2 {
		queryText(t, c1, q, 1)
		queryText(t, other, q, 1)
	}
	c2, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("a connection whose identity cannot be read: %v", err)
	}
	defer c2.Close()
	if _, err := c2.ExecContext(ctx, `UPDATE kv SET v = 'after' WHERE k = 1`); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}{"the first connection": c1, "the unreadable one": c2, "another handle": other} {
		if got := queryText(t, r, q, 1); got != "after" {
			t.Errorf("%s after a write through the unreadable connection = %q, want after", name, got)
		}
	}
}
