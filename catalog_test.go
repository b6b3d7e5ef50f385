package cachedsql_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// Tables a statement does not name (issue 8, item 5): foreign-key actions, views, user-defined
// functions and triggers. Each test reads through the wrapper (twice: the second read is the one the
// cache serves), writes through it, and compares the next read with the bare database's answer.

// rowsText renders every row of query on db as text.
func rowsText(t testing.TB, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				vals[i] = string(bs)
			}
		}
		fmt.Fprintln(&b, vals...)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return b.String()
}

// warm reads each query through db twice, so that the cache holds it.
func warm(t testing.TB, db *sql.DB, queries ...string) {
	t.Helper()
	for _, q := range queries {
		rowsText(t, db, q)
		rowsText(t, db, q)
	}
}

// wantFresh fails unless db (cached) and bare give the same rows for each query.
func wantFresh(t testing.TB, bare, db *sql.DB, after string, queries ...string) {
	t.Helper()
	for _, q := range queries {
		want := rowsText(t, bare, q)
		if got := rowsText(t, db, q); got != want {
			t.Errorf("after %s, %s:\ngot (stale)\n%s\nwant\n%s", after, q, got, want)
		}
	}
}

// catalogBackend opens one empty database twice: bare, and through the wrapper caching every read.
type catalogBackend struct {
	name string
	open func(t *testing.T, opts cachedsql.Options) (bare, db *sql.DB)
}

func catalogBackends() []catalogBackend {
	return []catalogBackend{
		{"postgres", func(t *testing.T, opts cachedsql.Options) (*sql.DB, *sql.DB) {
			bare, db, _ := pgRedis(t, opts)
			return bare, db
		}},
		{"sqlite", openSQLiteFK},
	}
}

// openSQLiteFK opens a new SQLite file with foreign keys enforced, bare and through the wrapper.
func openSQLiteFK(t *testing.T, opts cachedsql.Options) (bare, db *sql.DB) {
	t.Helper()
	return openSQLiteDSN(t, filepath.Join(t.TempDir(), "fk.db")+"?_foreign_keys=on", opts)
}

// TestIssue8ForeignKeyActions: a delete or update of a parent through the wrapper changes its children
// through ON DELETE/ON UPDATE CASCADE, SET NULL and SET DEFAULT, on several levels; cached reads of the
// children were served stale.
func TestIssue8ForeignKeyActions(t *testing.T) {
	for _, b := range catalogBackends() {
		t.Run(b.name, func(t *testing.T) {
			bare, db := b.open(t, cachedsql.Options{})
			for _, ddl := range []string{
				`CREATE TABLE parent (id int PRIMARY KEY, name text)`,
				`CREATE TABLE child (id int PRIMARY KEY, pid int REFERENCES parent(id) ON DELETE CASCADE ON UPDATE CASCADE)`,
				`CREATE TABLE grandchild (id int PRIMARY KEY, cid int REFERENCES child(id) ON DELETE CASCADE)`,
				`CREATE TABLE nullable (id int PRIMARY KEY, pid int REFERENCES parent(id) ON DELETE SET NULL ON UPDATE SET NULL)`,
				`CREATE TABLE defaulted (id int PRIMARY KEY, pid int DEFAULT 3 REFERENCES parent(id) ON UPDATE SET DEFAULT)`,
				`INSERT INTO parent VALUES (1, 'a'), (2, 'b'), (3, 'c')`,
				`INSERT INTO child VALUES (10, 1), (20, 2)`,
				`INSERT INTO grandchild VALUES (100, 10), (200, 20)`,
				`INSERT INTO nullable VALUES (1, 1), (2, 2)`,
				`INSERT INTO defaulted VALUES (1, 2)`,
			} {
				mustExec(t, db, ddl)
			}
			reads := []string{
				`SELECT id, pid FROM child ORDER BY id`,
				`SELECT id, cid FROM grandchild ORDER BY id`,
				`SELECT id, pid FROM nullable ORDER BY id`,
				`SELECT id, pid FROM defaulted ORDER BY id`,
			}
			warm(t, db, reads...)
			mustExec(t, db, `DELETE FROM parent WHERE id = 1`)
			wantFresh(t, bare, db, "a delete of a parent", reads...)
			warm(t, db, reads...)
			mustExec(t, db, `UPDATE parent SET id = 5 WHERE id = 2`)
			wantFresh(t, bare, db, "an update of a parent's key", reads...)
		})
	}
}

// TestIssue8ForeignKeyAddedThroughWrapper: a foreign key added by DDL through the wrapper is known to
// the next write (the catalog is read again after DDL).
func TestIssue8ForeignKeyAddedThroughWrapper(t *testing.T) {
	for _, b := range catalogBackends() {
		t.Run(b.name, func(t *testing.T) {
			bare, db := b.open(t, cachedsql.Options{})
			mustExec(t, db, `CREATE TABLE parent (id int PRIMARY KEY)`)
			mustExec(t, db, `CREATE TABLE child (id int PRIMARY KEY, pid int)`)
			mustExec(t, db, `INSERT INTO parent VALUES (1), (2)`)
			mustExec(t, db, `INSERT INTO child VALUES (10, 1), (20, 2)`)
			read := `SELECT id, pid FROM child ORDER BY id`
			warm(t, db, read)
			if b.name == "postgres" {
				mustExec(t, db, `ALTER TABLE child ADD FOREIGN KEY (pid) REFERENCES parent(id) ON DELETE CASCADE`)
			} else { // SQLite cannot add a foreign key: the table is rebuilt, as migration tools do
				mustExec(t, db, `CREATE TABLE child_new (id int PRIMARY KEY, pid int REFERENCES parent(id) ON DELETE CASCADE)`)
				mustExec(t, db, `INSERT INTO child_new SELECT id, pid FROM child`)
				mustExec(t, db, `DROP TABLE child`)
				mustExec(t, db, `ALTER TABLE child_new RENAME TO child`)
			}
			warm(t, db, read)
			mustExec(t, db, `DELETE FROM parent WHERE id = 1`)
			wantFresh(t, bare, db, "a cascade added by DDL through the wrapper", read)
		})
	}
}

// TestIssue8Partitions: a write through a partitioned table changes its partitions, and a read of the
// partitioned table reads them.
func TestIssue8Partitions(t *testing.T) {
	bare, db, _ := pgRedis(t, cachedsql.Options{})
	mustExec(t, db, `CREATE TABLE m (id int, k int) PARTITION BY RANGE (k)`)
	mustExec(t, db, `CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (10)`)
	mustExec(t, db, `CREATE TABLE m_high PARTITION OF m FOR VALUES FROM (10) TO (100)`)
	reads := []string{`SELECT id, k FROM m_low ORDER BY id`, `SELECT id, k FROM m ORDER BY id`}
	warm(t, db, reads...)
	mustExec(t, db, `INSERT INTO m VALUES (1, 5)`)
	wantFresh(t, bare, db, "an insert through the partitioned table", reads...)
	warm(t, db, reads...)
	mustExec(t, db, `INSERT INTO m_high VALUES (2, 50)`)
	wantFresh(t, bare, db, "an insert into a partition", reads...)
}

// TestIssue8Views: a read through a view depends on the view's base tables, through a join and through
// a view of a view.
func TestIssue8Views(t *testing.T) {
	for _, b := range catalogBackends() {
		t.Run(b.name, func(t *testing.T) {
			bare, db := b.open(t, cachedsql.Options{})
			for _, ddl := range []string{
				`CREATE TABLE customers (id int PRIMARY KEY, name text)`,
				`CREATE TABLE orders (id int PRIMARY KEY, customer int, total int)`,
				`CREATE VIEW customer_totals AS SELECT c.name, sum(o.total) AS total FROM customers c JOIN orders o ON o.customer = c.id GROUP BY c.name`,
				`CREATE VIEW big_customers AS SELECT name FROM customer_totals WHERE total > 10`,
				`INSERT INTO customers VALUES (1, 'ann'), (2, 'bob')`,
				`INSERT INTO orders VALUES (1, 1, 5), (2, 2, 20)`,
			} {
				mustExec(t, db, ddl)
			}
			reads := []string{`SELECT name, total FROM customer_totals ORDER BY name`, `SELECT name FROM big_customers ORDER BY name`}
			warm(t, db, reads...)
			mustExec(t, db, `INSERT INTO orders VALUES (3, 1, 50)`)
			wantFresh(t, bare, db, "an insert into a view's base table", reads...)
			warm(t, db, reads...)
			mustExec(t, db, `UPDATE customers SET name = 'cy' WHERE id = 2`)
			wantFresh(t, bare, db, "an update of the other base table", reads...)
		})
	}
}

// TestIssue8ViewCallingNow: a view whose query calls now() is not cached.
func TestIssue8ViewCallingNow(t *testing.T) {
	obs := &recordingObserver{}
	_, db, _ := pgRedis(t, cachedsql.Options{Observer: obs})
	mustExec(t, db, `CREATE VIEW clock AS SELECT now() AS t`)
	warm(t, db, `SELECT t FROM clock`)
	reads, _, _ := obs.take()
	if n := countBypass(reads, cachedsql.BypassView, ""); n != 2 {
		t.Errorf("reads of a view calling now(): %d bypasses for \"view not cacheable\", want 2: %+v", n, reads)
	}
}

// countBypass counts the bypasses among reads for reason why whose detail starts with detail.
func countBypass(reads []cachedsql.ReadEvent, why cachedsql.BypassReason, detail string) int {
	n := 0
	for _, r := range reads {
		if r.Outcome == cachedsql.OutcomeBypass && r.Bypass == why && strings.HasPrefix(r.Detail, detail) {
			n++
		}
	}
	return n
}

// TestIssue8UserFunction: SELECT tier_of($1), a SQL function reading customers, was cached as reading
// no table and never invalidated. It is not cached unless its rule declares what the function reads;
// then a write to that table invalidates it.
func TestIssue8UserFunction(t *testing.T) {
	setup := func(t *testing.T, db *sql.DB) {
		mustExec(t, db, `CREATE TABLE customers (id int PRIMARY KEY, tier text)`)
		mustExec(t, db, `INSERT INTO customers VALUES (1, 'gold')`)
		mustExec(t, db, `CREATE FUNCTION tier_of(int) RETURNS text LANGUAGE sql STABLE AS $$ SELECT tier FROM customers WHERE id = $1 $$`)
	}
	const read = `SELECT tier_of($1)`
	t.Run("undeclared", func(t *testing.T) {
		obs := &recordingObserver{}
		_, db, _ := pgRedis(t, cachedsql.Options{Observer: obs})
		setup(t, db)
		check := func(want string) {
			t.Helper()
			var got string
			if err := db.QueryRow(read, 1).Scan(&got); err != nil || got != want {
				t.Fatalf("tier_of(1) = %q, %v; want %q", got, err, want)
			}
		}
		check("gold")
		check("gold")
		mustExec(t, db, `UPDATE customers SET tier = 'silver' WHERE id = 1`)
		check("silver")
		reads, _, _ := obs.take()
		if n := countBypass(reads, cachedsql.BypassUserFunction, "calls user-defined function tier_of()"); n != 3 {
			t.Errorf("reads calling tier_of(): %d bypasses for the function, want 3: %+v", n, reads)
		}
	})
	t.Run("depends_on", func(t *testing.T) {
		rules, err := cachedsql.ParseRules("rules.yaml", []byte(`version: 1
rules:
  - name: tiers
    match:
      sql: SELECT tier_of($1)
    depends_on: [customers]
  - name: all
    match:
      default: true
`))
		if err != nil {
			t.Fatal(err)
		}
		obs := &recordingObserver{}
		bare, db, _ := pgRedis(t, cachedsql.Options{Observer: obs, Rules: rules})
		setup(t, db)
		var got string
		for range 2 {
			if err := db.QueryRow(read, 1).Scan(&got); err != nil || got != "gold" {
				t.Fatalf("tier_of(1) = %q, %v; want gold", got, err)
			}
		}
		mustExec(t, db, `UPDATE customers SET tier = 'silver' WHERE id = 1`)
		if err := db.QueryRow(read, 1).Scan(&got); err != nil || got != "silver" {
			t.Errorf("after an update of customers, tier_of(1) = %q, %v; want silver", got, err)
		}
		reads, _, _ := obs.take()
		if n := countBypass(reads, cachedsql.BypassUserFunction, ""); n != 0 {
			t.Errorf("with depends_on: %d bypasses for the function, want 0: %+v", n, reads)
		}
		_ = bare
	})
}

// TestIssue8VolatileFunctionWrites: a read calling a VOLATILE user-defined function that writes a table
// invalidates (the epoch: what it writes is unknown) and marks the connection session-changed.
func TestIssue8VolatileFunctionWrites(t *testing.T) {
	onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) { testVolatileFunctionWrites(t, watch) })
}

func testVolatileFunctionWrites(t testing.TB, watch func(*sql.DB)) {
	obs := &recordingObserver{}
	bare, db, _ := pgRedis(t, cachedsql.Options{Observer: obs})
	watch(db)
	mustExec(t, db, `CREATE TABLE counters (id int PRIMARY KEY, n int)`)
	mustExec(t, db, `INSERT INTO counters VALUES (1, 0)`)
	mustExec(t, db, `CREATE FUNCTION bump() RETURNS int LANGUAGE sql AS $$ UPDATE counters SET n = n + 1 RETURNING n $$`)
	read := `SELECT n FROM counters`
	warm(t, db, read)
	var n int
	if err := db.QueryRow(`SELECT bump()`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bump() = %d, %v; want 1", n, err)
	}
	wantFresh(t, bare, db, "SELECT bump()", read)

	// The connection that called it counts as session-changed: its later reads bypass the cache.
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, `SELECT bump()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	obs.take()
	if err := conn.QueryRowContext(ctx, read).Scan(&n); err != nil {
		t.Fatal(err)
	}
	reads, _, _ := obs.take()
	if len(reads) != 1 || reads[0].Outcome != cachedsql.OutcomeBypass || reads[0].Bypass != cachedsql.BypassSessionChanged {
		t.Errorf("read after SELECT bump() on the same connection: %+v, want a bypass for \"session changed\"", reads)
	}
}

// TestIssue8Triggers: a write to a table whose trigger writes another table invalidates that table:
// a PL/pgSQL or SQLite trigger body whose statements name their tables, and (by the epoch) one that
// runs dynamic SQL.
func TestIssue8Triggers(t *testing.T) {
	for _, b := range catalogBackends() {
		t.Run(b.name, func(t *testing.T) {
			bare, db := b.open(t, cachedsql.Options{})
			mustExec(t, db, `CREATE TABLE orders (id int PRIMARY KEY, total int)`)
			mustExec(t, db, `CREATE TABLE audit (id int, note text)`)
			mustExec(t, db, `CREATE TABLE dyn (id int)`)
			if b.name == "postgres" {
				mustExec(t, db, `CREATE FUNCTION audit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit (id, note) VALUES (NEW.id, 'order ' || TG_OP);
	RETURN NEW;
END $$`)
				mustExec(t, db, `CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION audit_order()`)
				mustExec(t, db, `CREATE FUNCTION dyn_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'INSERT INTO ' || 'dyn' || ' VALUES (1)';
	RETURN NEW;
END $$`)
				mustExec(t, db, `CREATE TRIGGER audit_dyn AFTER DELETE ON audit FOR EACH ROW EXECUTE FUNCTION dyn_write()`)
			} else {
				mustExec(t, db, `CREATE TRIGGER orders_audit AFTER INSERT ON orders BEGIN
	INSERT INTO audit (id, note) VALUES (new.id, 'order insert');
END`)
				mustExec(t, db, `CREATE TRIGGER audit_dyn AFTER DELETE ON audit BEGIN
	INSERT INTO dyn VALUES (1);
END`)
			}
			reads := []string{`SELECT id, note FROM audit ORDER BY id`, `SELECT count(*) FROM dyn`}
			warm(t, db, reads...)
			mustExec(t, db, `INSERT INTO orders VALUES (1, 10)`)
			wantFresh(t, bare, db, "an insert into a table with a trigger", reads...)
			warm(t, db, reads...)
			mustExec(t, db, `DELETE FROM audit`)
			wantFresh(t, bare, db, "a delete from a table whose trigger writes another", reads...)
		})
	}
}

// TestIssue8TriggerDeclared: a declared trigger replaces what the catalog says: the write invalidates
// the declared tables, not every table.
func TestIssue8TriggerDeclared(t *testing.T) {
	rules, err := cachedsql.ParseRules("rules.yaml", []byte(`version: 1
rules:
  - name: all
    match:
      default: true
triggers:
  - table: audit
    writes: [dyn]
`))
	if err != nil {
		t.Fatal(err)
	}
	obs := &recordingObserver{}
	bare, db, _ := pgRedis(t, cachedsql.Options{Rules: rules, Observer: obs})
	mustExec(t, db, `CREATE TABLE audit (id int)`)
	mustExec(t, db, `CREATE TABLE dyn (id int)`)
	mustExec(t, db, `CREATE FUNCTION dyn_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'INSERT INTO dyn VALUES (1)';
	RETURN NEW;
END $$`)
	mustExec(t, db, `CREATE TRIGGER audit_dyn AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION dyn_write()`)
	read := `SELECT count(*) FROM dyn`
	warm(t, db, read)
	obs.take()
	mustExec(t, db, `INSERT INTO audit VALUES (1)`)
	wantFresh(t, bare, db, "an insert into a table with a declared trigger", read)
	_, invs, _ := obs.take()
	if len(invs) != 1 || strings.Join(invs[0].Tables, ",") != "audit,dyn" {
		t.Errorf("invalidations of the insert: %+v, want one of audit,dyn", invs)
	}
}

// TestIssue8SQLiteApplicationFunctions: SQLite functions are registered by the application. A read
// calling one registered as deterministic is cached; one calling a non-deterministic one is not,
// unless its rule gives depends_on.
func TestIssue8SQLiteApplicationFunctions(t *testing.T) {
	sqliteFuncsOnce.Do(func() {
		sql.Register("sqlite3_catalog_funcs", &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			if err := c.RegisterFunc("twice", func(x int64) int64 { return 2 * x }, true); err != nil {
				return err
			}
			return c.RegisterFunc("stamp", func() int64 { return time.Now().UnixNano() }, false)
		}})
	})
	obs := &recordingObserver{}
	db, err := cachedsql.Open("sqlite3_catalog_funcs", filepath.Join(t.TempDir(), "f.db"), cachedsql.Options{Rules: cacheAll(t), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	warm(t, db, `SELECT twice(21)`, `SELECT stamp()`)
	reads, _, _ := obs.take()
	if n := countBypass(reads, cachedsql.BypassUserFunction, "calls user-defined function stamp()"); n != 2 {
		t.Errorf("reads of stamp(): %d bypasses for the function, want 2: %+v", n, reads)
	}
	if n := countBypass(reads, cachedsql.BypassUserFunction, "calls user-defined function twice()"); n != 0 {
		t.Errorf("reads of the deterministic twice() bypassed for the function: %+v", reads)
	}
}

var sqliteFuncsOnce sync.Once

// TestIssue8SelfReferencingCascade: under a row rule, a delete pinned to one row cascades to other rows
// of the same table; their row entries were served stale.
func TestIssue8SelfReferencingCascade(t *testing.T) {
	for _, b := range catalogBackends() {
		t.Run(b.name, func(t *testing.T) {
			read := `SELECT id, name FROM cats WHERE id = $1`
			if b.name == "sqlite" {
				read = `SELECT id, name FROM cats WHERE id = ?`
			}
			rules, err := cachedsql.NewRules(cachedsql.Rule{Name: "cat", Match: cachedsql.Match{SQL: read}, Key: []string{"id"}})
			if err != nil {
				t.Fatal(err)
			}
			bare, db := b.open(t, cachedsql.Options{Rules: rules})
			mustExec(t, db, `CREATE TABLE cats (id int PRIMARY KEY, name text, parent int REFERENCES cats(id) ON DELETE CASCADE)`)
			mustExec(t, db, `INSERT INTO cats VALUES (1, 'root', NULL), (2, 'leaf', 1)`)
			for range 2 {
				rowsText(t, db, read, 2)
			}
			del := `DELETE FROM cats WHERE id = $1`
			if b.name == "sqlite" {
				del = `DELETE FROM cats WHERE id = ?`
			}
			mustExec(t, db, del, 1)
			if got, want := rowsText(t, db, read, 2), rowsText(t, bare, read, 2); got != want {
				t.Errorf("after deleting the parent row, row 2 = %q, want %q", got, want)
			}
		})
	}
}
