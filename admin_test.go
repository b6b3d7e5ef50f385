package cachedsql_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

const (
	adminUsers  = `SELECT name FROM users WHERE id = ?`
	adminOrders = `SELECT total FROM orders WHERE id = ?`
)

// adminRules caches reads of users under rule "users" (refresh-ahead, so that it has a hot set) and
// reads of orders under rule "orders".
func adminRules(t testing.TB) *cachedsql.Rules {
	return mustRules(t,
		cachedsql.Rule{Name: "users", Match: cachedsql.Match{TablesAny: []string{"users"}}, TTL: time.Minute, RefreshAhead: true},
		cachedsql.Rule{Name: "orders", Match: cachedsql.Match{TablesAny: []string{"orders"}}, TTL: time.Minute},
	)
}

// adminApp opens a new SQLite database through the wrapper, caching in rdb under ns with adminRules,
// and returns it with its database id.
func adminApp(t testing.TB, rdb redis.UniversalClient, ns string) (db *sql.DB, identity string) {
	t.Helper()
	path, _, db := openSQLitePath(t, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: adminRules(t)})
	identity, err := cachedsql.ResolveIdentity(context.Background(), "sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	return db, identity
}

// readHit reads query with argument 1 through db and reports whether the cache served it.
func readHit(t testing.TB, db *sql.DB, query string) bool {
	t.Helper()
	hits, _ := hitsOf(t, db, func() { queryAll(t, db, context.Background(), query, 1) })
	return hits == 1
}

// wantHits checks, for each database and query, whether its next read is a hit.
func wantHits(t testing.TB, step string, want map[*sql.DB]map[string]bool) {
	t.Helper()
	for db, queries := range want {
		for q, hit := range queries {
			if got := readHit(t, db, q); got != hit {
				t.Errorf("%s: %s hit = %v, want %v", step, q, got, hit)
			}
		}
	}
}

// TestAdminTwoDatabases (issue 9): two databases share a namespace; flushing a rule or invalidating a table of
// one leaves the other's entries valid, and the listings tell them apart.
func TestAdminTwoDatabases(t *testing.T) {
	ctx := context.Background()
	rdb, ns := testenv.Redis(t), namespace(t)
	a, idA := adminApp(t, rdb, ns)
	b, idB := adminApp(t, rdb, ns)
	dbA, dbB := cachedsql.DatabaseIDOf(idA), cachedsql.DatabaseIDOf(idB)
	if dbA == dbB {
		t.Fatalf("two databases share the id %s", dbA)
	}
	for _, db := range []*sql.DB{a, b} {
		for _, q := range []string{adminUsers, adminOrders} {
			queryAll(t, db, ctx, q, 1)
		}
	}
	admin := cachedsql.NewAdmin(rdb, ns)

	dbs, err := admin.Databases(ctx)
	if want := []cachedsql.DatabaseID{min(dbA, dbB), max(dbA, dbB)}; err != nil || !slices.Equal(dbs, want) {
		t.Errorf("Databases = %q, %v; want %q", dbs, err, want)
	}

	if n, err := admin.FlushRule(ctx, dbA, "users"); err != nil || n != 1 {
		t.Errorf("FlushRule(A, users) = %d, %v; want 1", n, err)
	}
	wantHits(t, "after FlushRule(A, users)", map[*sql.DB]map[string]bool{
		a: {adminUsers: false, adminOrders: true},
		b: {adminUsers: true, adminOrders: true},
	})

	if n, err := admin.FlushRule(ctx, cachedsql.AllDatabases, "orders"); err != nil || n != 2 {
		t.Errorf("FlushRule(all, orders) = %d, %v; want 2", n, err)
	}
	wantHits(t, "after FlushRule(all, orders)", map[*sql.DB]map[string]bool{
		a: {adminUsers: true, adminOrders: false},
		b: {adminUsers: true, adminOrders: false},
	})

	if err := admin.InvalidateTables(ctx, idA, "main.Users"); err != nil {
		t.Fatal(err)
	}
	wantHits(t, "after InvalidateTables(A, users)", map[*sql.DB]map[string]bool{
		a: {adminUsers: false, adminOrders: true},
		b: {adminUsers: true, adminOrders: true},
	})
	if err := admin.InvalidateTables(ctx, idB); err != nil {
		t.Fatal(err)
	}
	wantHits(t, "after InvalidateTables(B)", map[*sql.DB]map[string]bool{
		a: {adminUsers: true, adminOrders: true},
		b: {adminUsers: false, adminOrders: false},
	})

	tests := []struct {
		name   string
		db     cachedsql.DatabaseID
		n      int
		tables [][]string // of the invalidations listed, newest first
		dbs    []cachedsql.DatabaseID
	}{
		{"all", cachedsql.AllDatabases, 10, [][]string{{"*"}, {"users"}}, []cachedsql.DatabaseID{dbB, dbA}},
		{"n=1", cachedsql.AllDatabases, 1, [][]string{{"*"}}, []cachedsql.DatabaseID{dbB}},
		{"database A", dbA, 10, [][]string{{"users"}}, []cachedsql.DatabaseID{dbA}},
		{"n=0", cachedsql.AllDatabases, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run("invalidations "+tt.name, func(t *testing.T) {
			got, err := admin.Invalidations(ctx, tt.db, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.tables) {
				t.Fatalf("Invalidations = %+v, want %d", got, len(tt.tables))
			}
			for i, inv := range got {
				if !slices.Equal(inv.Tables, tt.tables[i]) || inv.Database != tt.dbs[i] || inv.Cause != "cachedsql.Admin" || inv.Time.IsZero() {
					t.Errorf("invalidation %d = %+v, want tables %q of %s by cachedsql.Admin", i, inv, tt.tables[i], tt.dbs[i])
				}
			}
		})
	}

	var sets []cachedsql.HotSet
	eventually(t, "a hot set per database", func() bool {
		sets, err = admin.Hot(ctx, cachedsql.AllDatabases, 5)
		return err == nil && len(sets) == 2 && len(sets[0].Queries) > 0 && len(sets[1].Queries) > 0
	})
	usersFP := keying.Analyze(adminUsers).Fingerprint
	for _, s := range sets {
		if s.Rule != "users" || (s.Database != dbA && s.Database != dbB) || len(s.Entries) != 1 || s.Entries[0].Score < 1 {
			t.Errorf("hot set %+v: want rule users of A or B with one entry", s)
		}
		if len(s.Queries) != 1 || s.Queries[0].Fingerprint != usersFP || s.Queries[0].Score < 1 ||
			s.Queries[0].Text != keying.DigestOf(adminUsers).Text {
			t.Errorf("hot set %+v: want the statement %s (fingerprint %s)", s, adminUsers, usersFP)
		}
	}
	if sets[0].Database == sets[1].Database {
		t.Errorf("hot sets %+v: want one per database", sets)
	}
	if one, err := admin.Hot(ctx, dbA, 5); err != nil || len(one) != 1 || one[0].Database != dbA {
		t.Errorf("Hot(A) = %+v, %v; want A's set only", one, err)
	}
}

// TestAdminNamespaceBoundaries: an Admin of namespace ns reaches none of the keys of a namespace whose
// name extends ns ("app" and "app2") or nests under it ("app" and "app:x").
func TestAdminNamespaceBoundaries(t *testing.T) {
	ctx := context.Background()
	rdb, ns := testenv.Redis(t), namespace(t)
	others := []string{ns + "2", ns + ":x"}
	t.Cleanup(func() { // after the apps close (cleanups run last first): ns+"2" is not under testenv's prefix
		if _, err := cachedsql.NewAdmin(rdb, others[0]).Flush(context.Background()); err != nil {
			t.Errorf("clean up %s: %v", others[0], err)
		}
	})
	apps := make(map[string]*sql.DB)
	for _, n := range append([]string{ns}, others...) {
		db, _ := adminApp(t, rdb, n)
		queryAll(t, db, ctx, adminUsers, 1)
		queryAll(t, db, ctx, adminUsers, 1) // a hit: hot
		mustExec(t, db, `UPDATE orders SET total = 11 WHERE id = 1`)
		apps[n] = db
	}
	admin := cachedsql.NewAdmin(rdb, ns)

	if dbs, err := admin.Databases(ctx); err != nil || len(dbs) != 1 {
		t.Errorf("Databases = %q, %v; want one", dbs, err)
	}
	if invs, err := admin.Invalidations(ctx, cachedsql.AllDatabases, 10); err != nil || len(invs) != 1 {
		t.Errorf("Invalidations = %+v, %v; want one", invs, err)
	}
	eventually(t, "every namespace's hot set", func() bool {
		for _, n := range append([]string{ns}, others...) {
			if sets, err := cachedsql.NewAdmin(rdb, n).Hot(ctx, cachedsql.AllDatabases, 5); err != nil || len(sets) == 0 {
				return false
			}
		}
		return true
	})
	if sets, err := admin.Hot(ctx, cachedsql.AllDatabases, 5); err != nil || len(sets) != 1 {
		t.Errorf("Hot = %+v, %v; want one set", sets, err)
	}
	if n, err := admin.FlushRule(ctx, cachedsql.AllDatabases, "users"); err != nil || n != 1 {
		t.Errorf("FlushRule = %d, %v; want 1", n, err)
	}
	if n, err := admin.Flush(ctx); err != nil || n == 0 {
		t.Errorf("Flush = %d, %v; want keys deleted", n, err)
	}
	if keys, err := rdb.Keys(ctx, ns+":*").Result(); err != nil || slices.ContainsFunc(keys, func(k string) bool {
		return k[len(ns)+1:len(ns)+3] != "x:"
	}) {
		t.Errorf("keys left in %s after Flush: %q, %v; want only those of %s:x", ns, keys, err, ns)
	}
	wantHits(t, "after flushing "+ns, map[*sql.DB]map[string]bool{
		apps[ns]:        {adminUsers: false},
		apps[others[0]]: {adminUsers: true},
		apps[others[1]]: {adminUsers: true},
	})
	for _, n := range others {
		if invs, err := cachedsql.NewAdmin(rdb, n).Invalidations(ctx, cachedsql.AllDatabases, 10); err != nil || len(invs) != 1 {
			t.Errorf("Invalidations of %s = %+v, %v; want its one", n, invs, err)
		}
	}
}

// TestAdminInvalidateTablesRows: InvalidateTables reaches row entries, whose tokens it finds through
// the key column sets the application registered.
func TestAdminInvalidateTablesRows(t *testing.T) {
	ctx := context.Background()
	rdb, ns := testenv.Redis(t), namespace(t)
	path, _, db := openSQLitePath(t, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: rowRules(t, false)})
	id, err := cachedsql.ResolveIdentity(ctx, "sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	read := func() (hits, misses uint64) { return hitsOf(t, db, func() { userName(t, db, 1) }) }
	read()
	if h, _ := read(); h != 1 {
		t.Fatalf("second read: %d hits, want 1", h)
	}
	gen := keying.NewLayout(ns, id).Generation()
	before, _ := rdb.Get(ctx, gen).Int64() // 0 when missing
	if err := cachedsql.NewAdmin(rdb, ns).InvalidateTables(ctx, id, "users"); err != nil {
		t.Fatal(err)
	}
	if h, m := read(); h != 0 || m != 1 {
		t.Errorf("after InvalidateTables: hits, misses = %d, %d; want 0, 1", h, m)
	}
	// It counts as a write in the database's write generation, as a write through the wrapper does, so
	// that a store restored from a copy taken before it is detected.
	if after, err := rdb.Get(ctx, gen).Int64(); err != nil || after <= before {
		t.Errorf("write generation %s: %d, %v after InvalidateTables; want above %d", gen, after, err, before)
	}
}

// TestAdminCluster: every operation works on a Redis Cluster, whose keys spread over several masters.
func TestAdminCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testenv.RedisCluster(t)
	ns := clusterNamespace(t, c)
	db, id := adminApp(t, c, ns)
	for _, q := range []string{adminUsers, adminUsers, adminOrders} { // the second read, a hit, makes the entry hot
		queryAll(t, db, ctx, q, 1)
	}
	mustExec(t, db, `UPDATE orders SET total = 11 WHERE id = 2`)
	admin := cachedsql.NewAdmin(c, ns)
	want := cachedsql.DatabaseIDOf(id)
	if dbs, err := admin.Databases(ctx); err != nil || !slices.Equal(dbs, []cachedsql.DatabaseID{want}) {
		t.Errorf("Databases = %q, %v; want %s", dbs, err, want)
	}
	eventually(t, "the hot set", func() bool {
		sets, err := admin.Hot(ctx, want, 5)
		return err == nil && len(sets) == 1 && len(sets[0].Entries) == 1
	})
	if n, err := admin.FlushRule(ctx, want, "users"); err != nil || n != 1 {
		t.Errorf("FlushRule = %d, %v; want 1", n, err)
	}
	if err := admin.InvalidateTables(ctx, id, "users", "orders"); err != nil {
		t.Fatal(err)
	}
	invs, err := admin.Invalidations(ctx, cachedsql.AllDatabases, 10)
	if err != nil || len(invs) != 2 || !slices.Equal(invs[0].Tables, []string{"users", "orders"}) {
		t.Errorf("Invalidations = %+v, %v; want the call then the write", invs, err)
	}
	if n, err := admin.Flush(ctx); err != nil || n == 0 {
		t.Errorf("Flush = %d, %v; want keys deleted", n, err)
	}
	db.Close() // nothing writes to the namespace any more
	if _, err := admin.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if dbs, err := admin.Databases(ctx); err != nil || len(dbs) != 0 {
		t.Errorf("Databases after Flush = %q, %v; want none", dbs, err)
	}
}

// TestAdminBadDatabaseID: a database id that no database can have is refused.
func TestAdminBadDatabaseID(t *testing.T) {
	ctx := context.Background()
	admin := cachedsql.NewAdmin(testenv.Redis(t), namespace(t))
	for _, id := range []cachedsql.DatabaseID{"x", "0123456789ABCDEF", "0123456789abcdef0"} {
		if _, err := admin.FlushRule(ctx, id, "r"); err == nil {
			t.Errorf("FlushRule(%q): no error, want one", id)
		}
		if _, err := admin.Invalidations(ctx, id, 1); err == nil {
			t.Errorf("Invalidations(%q): no error, want one", id)
		}
		if _, err := admin.Hot(ctx, id, 1); err == nil {
			t.Errorf("Hot(%q): no error, want one", id)
		}
	}
}
