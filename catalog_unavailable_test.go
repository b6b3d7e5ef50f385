package cachedsql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// TestIssue8CatalogUnavailable: a catalog that cannot be read (here: a view locked by another session,
// so that reading its definition blocks) never fails or hangs a statement. Until it can be read, reads
// bypass the cache ("catalog unknown") and writes replace the epoch; once the lock is gone, caching
// resumes. The test runs in a database of its own: the catalog covers every schema of a database, and
// the lock must not slow other tests' loads.
func TestIssue8CatalogUnavailable(t *testing.T) {
	t.Parallel()
	base := testenv.PostgresBase(t)
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Skipf("the test database's DSN is not a URL: %q", base)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "cachedsql_cat_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	mustExec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop the test's database: %v", err)
		}
	})
	u.Path = "/" + name
	dsn := u.String()

	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	mustExec(t, bare, `CREATE TABLE t (x int)`)
	mustExec(t, bare, `INSERT INTO t VALUES (1)`)
	mustExec(t, bare, `CREATE TABLE u (y int)`)
	mustExec(t, bare, `CREATE VIEW v AS SELECT y FROM u`) // locking v locks u too, never t
	ctx := context.Background()
	lock, err := bare.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	mustExec(t, lock, `LOCK TABLE v IN ACCESS EXCLUSIVE MODE`)
	// Whatever happens, the test ends.
	ctxDone, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	go func() {
		<-ctxDone.Done()
		if ctxDone.Err() == context.DeadlineExceeded {
			lock.Rollback()
		}
	}()

	obs := &recordingObserver{}
	db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{
		Redis: testenv.Redis(t), Namespace: strings.TrimSuffix(testenv.Prefix(t), ":"), Rules: cacheAll(t), Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	if got := rowsText(t, db, `SELECT x FROM t`); got != "1\n" {
		t.Errorf("read with the catalog locked = %q, want 1", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("read with the catalog locked took %v", d)
	}
	mustExec(t, db, `INSERT INTO t VALUES (2)`)
	reads, invs, _ := obs.take()
	if n := countBypass(reads, cachedsql.BypassCatalogUnknown, ""); n != 1 {
		t.Errorf("read with the catalog locked: %+v, want a bypass for \"catalog unknown\"", reads)
	}
	if len(invs) != 1 || invs[0].Tables != nil {
		t.Errorf("write with the catalog locked: %+v, want one invalidation of every table", invs)
	}

	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The next load is tried a second after the failed one.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rowsText(t, db, `SELECT x FROM t`)
		reads, _, _ := obs.take()
		if countBypass(reads, cachedsql.BypassCatalogUnknown, "") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reads still bypass after the lock is gone: %+v", reads)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
