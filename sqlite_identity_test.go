package cachedsql_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// TestIdentityIssue8SQLiteFile: handles on one SQLite file share generation tokens whatever the name
// they open it by (absolute or relative path, a symbolic link, a file: URI with parameters). Before the
// fix the identity was the spelling, so a write through one left the other serving the old row.
func TestIdentityIssue8SQLiteFile(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(dir, "one.db")
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(abs, link); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := sql.Open("sqlite3", abs)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	mustExec(t, bare, `CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)`)
	variants := []struct{ name, dsn string }{
		{"relative", rel},
		{"symlink", link},
		{"uri", "file:" + abs + "?_busy_timeout=5000&cache=private"},
	}
	for i, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			mustExec(t, bare, `INSERT INTO kv VALUES (?, 'before')`, i)
			opts := cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t), Rules: cacheAll(t)}
			writer, reader := openSQLiteCached(t, abs, opts), openSQLiteCached(t, v.dsn, opts)
			const q = `SELECT v FROM kv WHERE k = ?`
			for range 2 {
				if got := queryText(t, reader, q, i); got != "before" {
					t.Fatalf("first read = %q, want before", got)
				}
			}
			mustExec(t, writer, `UPDATE kv SET v = 'after' WHERE k = ?`, i)
			if got := queryText(t, reader, q, i); got != "after" {
				t.Errorf("read through %s after a write through the absolute path = %q, want after (stale)", v.name, got)
			}
		})
	}
}

// TestIdentitySQLiteMemoryPrivate: two in-memory databases never share entries, even in one namespace.
func TestIdentitySQLiteMemoryPrivate(t *testing.T) {
	opts := cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t), Rules: cacheAll(t)}
	for _, dsn := range []string{":memory:"} {
		t.Run(dsn, func(t *testing.T) {
			a, b := openSQLiteCached(t, dsn, opts), openSQLiteCached(t, dsn, opts)
			a.SetMaxOpenConns(1)
			b.SetMaxOpenConns(1)
			for name, db := range map[string]*sql.DB{"a": a, "b": b} {
				mustExec(t, db, `CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT)`)
				mustExec(t, db, `INSERT OR REPLACE INTO kv VALUES (1, ?)`, name)
			}
			for _, name := range []string{"a", "b", "a", "b"} {
				db := map[string]*sql.DB{"a": a, "b": b}[name]
				if got := queryText(t, db, `SELECT v FROM kv WHERE k = 1`); got != name {
					t.Errorf("memory database %s read %q: another database's entry", name, got)
				}
			}
		})
	}
}

func openSQLiteCached(t *testing.T, dsn string, opts cachedsql.Options) *sql.DB {
	t.Helper()
	db, err := cachedsql.Open("sqlite3", dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
