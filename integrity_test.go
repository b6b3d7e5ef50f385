package cachedsql_test

import (
	"context"
	"database/sql"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// TestWriteThroughArgTypes (issue 8): a write-through row entry is found by reads whatever integer or
// text Go type the write gave the key in: the image is stored under the key reads look up.
func TestWriteThroughArgTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   any
	}{
		{"int32", int32(2)},
		{"uint8", uint8(2)},
		{"string", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, db := openSQLite(t, cachedsql.Options{Rules: rowRules(t, true)})
			warmRows(t, db)
			mustExec(t, db, `UPDATE users SET name = ? WHERE id = ?`, "bea", tc.id)
			var name string
			if h, _ := hitsOf(t, db, func() { name = userName(t, db, 2) }); h != 1 {
				t.Errorf("read after a write with a %T key: not a hit (the write-through image is elsewhere)", tc.id)
			}
			if name != "bea" {
				t.Errorf("user 2 = %q, want bea", name)
			}
		})
	}
}

// TestWriteThroughReadTextDiffers (issue 8): reads whose text differs from the rule's Match.SQL only in
// spacing still lead write-through to the entry they look up (GORM-style extra arguments included):
// the state write-through learns from reads is the rule's, not one statement text's.
func TestWriteThroughReadTextDiffers(t *testing.T) {
	const (
		ruleSQL = `SELECT id, name FROM users WHERE id = ? LIMIT ?`
		readSQL = "SELECT id, name\n\tFROM users  WHERE id = ?   LIMIT ?"
	)
	rules := mustRules(t, cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: ruleSQL}, Key: []string{"id"},
		TTL: time.Minute, WriteThrough: true})
	_, db := openSQLite(t, cachedsql.Options{Rules: rules})
	ctx := context.Background()
	read := func() string {
		var id int
		var name string
		if err := db.QueryRowContext(ctx, readSQL, 2, 1).Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	read()
	if h, _ := hitsOf(t, db, func() { read() }); h != 1 {
		t.Fatal("second read: not a hit")
	}
	mustExec(t, db, `UPDATE users SET name = ? WHERE id = ?`, "bea", 2)
	var name string
	if h, _ := hitsOf(t, db, func() { name = read() }); h != 1 {
		t.Errorf("read after write-through: not a hit (WriteThroughs %d)", stats(t, db).WriteThroughs)
	}
	if name != "bea" {
		t.Errorf("user 2 = %q, want bea", name)
	}
}

// TestCopiedEntryNotServed (issue 8): a valid entry copied to another entry's key is not served as
// that key's rows (entries are bound to their key), for result-set entries (strings) and row entries
// (hashes): the read gets its own rows.
func TestCopiedEntryNotServed(t *testing.T) {
	const byName = `SELECT id, name FROM users WHERE name = ?`
	ctx := context.Background()
	rules := mustRules(t,
		cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: userByID}, Key: []string{"id"}, TTL: time.Minute},
		cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: time.Minute},
	)
	_, db, rdb, ns := redisSQLite(t, cachedsql.Options{Rules: rules})
	newKeys := func(pattern string, read func()) string {
		t.Helper()
		before := scanKeys(t, rdb, pattern)
		read()
		for _, k := range scanKeys(t, rdb, pattern) {
			if !slices.Contains(before, k) {
				return k
			}
		}
		t.Fatalf("no new key %s", pattern)
		return ""
	}
	t.Run("result set", func(t *testing.T) {
		nameOf := func(name string) int {
			var id int
			if err := db.QueryRowContext(ctx, byName, name).Scan(&id, new(string)); err != nil {
				t.Fatal(err)
			}
			return id
		}
		ann := newKeys(ns+":q:*", func() { nameOf("ann") })
		bob := newKeys(ns+":q:*", func() { nameOf("bob") })
		b, err := rdb.Get(ctx, ann).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(ctx, bob, b, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if id := nameOf("bob"); id != 2 {
			t.Errorf("read of bob after ann's entry was copied to its key: id %d, want 2", id)
		}
	})
	t.Run("row", func(t *testing.T) {
		one := newKeys(ns+":r:*}:*", func() { userName(t, db, 1) })
		two := newKeys(ns+":r:*}:*", func() { userName(t, db, 2) })
		fields, err := rdb.HGetAll(ctx, one).Result()
		if err != nil {
			t.Fatal(err)
		}
		// The row's token guards the entry (a copy records the other row's token): copy it along, as
		// one who copies a whole row would.
		if err := rdb.Del(ctx, two).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.HSet(ctx, two, fields).Err(); err != nil {
			t.Fatal(err)
		}
		tok := func(entry string) string { return entry[:strings.Index(entry, "}")+1] }
		v, err := rdb.Get(ctx, tok(one)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(ctx, tok(two), v, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got := userName(t, db, 2); got != "bob" {
			t.Errorf("read of user 2 after user 1's entry was copied to its key: %q, want bob", got)
		}
	})
}

// openers counts the goroutines of open *sql.DB handles (one connectionOpener each).
func openers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "database/sql.(*DB).connectionOpener")
}

// TestRefreshDuringClose (issue 8): a hit that starts a background refresh while the cache is closing
// starts nothing after Close, so no refresh DB is opened and left open, and no goroutine is left.
func TestRefreshDuringClose(t *testing.T) {
	fake := clock.NewFake(time.Now())
	opts := cachedsql.Options{Rules: mustRules(t, cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true},
		TTL: time.Minute, StaleWhileRevalidate: time.Hour})}
	cachedsql.InjectClock(&opts, fake, nil)
	var db *sql.DB
	var once sync.Once
	// The hit that would start a refresh arrives while Close runs: Close completes first.
	cachedsql.BeforeRefresh(&opts, func() { once.Do(func() { db.Close() }) })
	_, db = openSQLite(t, opts)
	base := openers() // the bare handle's and db's
	queryAll(t, db, context.Background(), countUsers)
	fake.Advance(2 * time.Minute) // past the TTL, inside stale_while_revalidate: a hit revalidates
	queryAll(t, db, context.Background(), countUsers)
	deadline := time.Now().Add(5 * time.Second)
	for openers() > base-1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := openers(); n != base-1 {
		t.Errorf("open *sql.DB handles after Close: %d, want %d (a refresh DB was left open)", n, base-1)
	}
}

// storeErrs records the store errors an engine reports.
type storeErrs struct {
	mu   sync.Mutex
	errs []error
}

func (o *storeErrs) ObserveRead(context.Context, cachedsql.ReadEvent) {}

func (o *storeErrs) ObserveStoreError(_ context.Context, ev cachedsql.StoreErrorEvent) {
	o.mu.Lock()
	o.errs = append(o.errs, ev.Err)
	o.mu.Unlock()
}

// TestBadKeyIsCorruptNotStoreFailure (issue 8): a key of the wrong type or an oversized value at an
// entry's key is a corrupt entry (a miss, counted, the key deleted), never a store failure that would
// open the breaker for every other key; reads return the right rows throughout.
func TestBadKeyIsCorruptNotStoreFailure(t *testing.T) {
	const byName = `SELECT id, name FROM users WHERE name = ?`
	ctx := context.Background()
	obs := new(storeErrs)
	rules := mustRules(t,
		cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: userByID}, Key: []string{"id"}, TTL: time.Minute},
		cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: time.Minute},
	)
	_, db, rdb, ns := redisSQLite(t, cachedsql.Options{Rules: rules, Observer: obs})
	idOf := func(name string) int {
		var id int
		if err := db.QueryRowContext(ctx, byName, name).Scan(&id, new(string)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	idOf("bob")
	entry := scanKeys(t, rdb, ns+":q:*")
	userName(t, db, 2)
	row := scanKeys(t, rdb, ns+":r:*}:*")
	if len(entry) != 1 || len(row) != 1 {
		t.Fatalf("entries %q, rows %q: want one of each", entry, row)
	}
	big := strings.Repeat("x", 8<<20) // over every rule's max_bytes
	plants := []struct {
		name  string
		plant func() error
	}{
		{"list at an entry", func() error { rdb.Del(ctx, entry[0]); return rdb.RPush(ctx, entry[0], "x").Err() }},
		{"oversized entry", func() error { return rdb.Set(ctx, entry[0], big, time.Minute).Err() }},
		{"value at a row entry", func() error { return rdb.Set(ctx, row[0], "x", time.Minute).Err() }},
		{"set at a row entry", func() error { rdb.Del(ctx, row[0]); return rdb.SAdd(ctx, row[0], "x").Err() }},
		{"list at a table's token", func() error {
			tok := scanKeys(t, rdb, ns+":t:*:users")
			if len(tok) != 1 {
				t.Fatalf("token keys of users: %q, want one", tok)
			}
			rdb.Del(ctx, tok[0])
			return rdb.RPush(ctx, tok[0], "x").Err()
		}},
	}
	for _, p := range plants {
		before := stats(t, db).CorruptEntries
		for range 5 {
			if err := p.plant(); err != nil {
				t.Fatal(err)
			}
			if id := idOf("bob"); id != 2 {
				t.Fatalf("%s: id of bob = %d, want 2", p.name, id)
			}
			if got := userName(t, db, 2); got != "bob" {
				t.Fatalf("%s: user 2 = %q, want bob", p.name, got)
			}
		}
		if stats(t, db).CorruptEntries == before && !strings.Contains(p.name, "token") {
			t.Errorf("%s: no corrupt entry counted", p.name)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, err := range obs.errs {
		if s := err.Error(); strings.Contains(s, "WRONGTYPE") || strings.Contains(s, "key ") {
			t.Errorf("a per-key problem was reported as a store failure: %v", err)
		}
	}
}

// TestMemoryStoreSharedByHandles (issue 8): with the default in-process store, two handles on one
// database in one process share one store: a write through either is seen by reads through the other
// at once. The store is released when the last handle closes.
func TestMemoryStoreSharedByHandles(t *testing.T) {
	ns := namespace(t)
	path, _, a := openSQLitePath(t, cachedsql.Options{Namespace: ns})
	b, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Namespace: ns, Rules: cacheAll(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, db := range []*sql.DB{a, b, a, b} {
		userName(t, db, 1)
	}
	// The store is acquired once a handle knows the database's identity: at its first connection.
	id, err := cachedsql.ResolveIdentity(context.Background(), "sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if n := cachedsql.MemoryStoreRefs(ns, id); n != 2 {
		t.Errorf("handles sharing the store: %d, want 2", n)
	}
	mustExec(t, b, `UPDATE users SET name = ? WHERE id = ?`, "zed", 1)
	if got := userName(t, a, 1); got != "zed" {
		t.Errorf("read through a after a write through b: %q, want zed", got)
	}
	mustExec(t, a, `UPDATE users SET name = ? WHERE id = ?`, "amy", 1)
	if got := userName(t, b, 1); got != "amy" {
		t.Errorf("read through b after a write through a: %q, want amy", got)
	}
	a.Close()
	b.Close()
	if n := cachedsql.MemoryStoreRefs(ns, id); n != 0 {
		t.Errorf("handles holding the store after both closed: %d, want 0 (released)", n)
	}
}

// TestWriteThroughArgTypesPostgres (issue 8): pgx passes integer types through unconverted, so a write
// with an int32 key and reads with int64 keys hashed differently: write-through now stores the image
// under the reads' key.
func TestWriteThroughArgTypesPostgres(t *testing.T) {
	const byID = `SELECT id, name FROM pgusers WHERE id = $1`
	dsn := testenv.Postgres(t)
	bare, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	mustExec(t, bare, `CREATE TABLE pgusers (id bigint PRIMARY KEY, name text)`)
	mustExec(t, bare, `INSERT INTO pgusers VALUES (1, 'ann'), (2, 'bob')`)
	rules := mustRules(t, cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: byID}, Key: []string{"id"},
		TTL: time.Minute, WriteThrough: true})
	db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	read := func() string {
		var name string
		if err := db.QueryRowContext(ctx, byID, int64(2)).Scan(new(int64), &name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	read()
	for i, id := range []any{int32(2), int16(2), "2"} {
		want := "v" + strconv.Itoa(i)
		mustExec(t, db, `UPDATE pgusers SET name = $1 WHERE id = $2`, want, id)
		var got string
		if h, _ := hitsOf(t, db, func() { got = read() }); h != 1 {
			t.Errorf("read after a write with a %T key: not a hit", id)
		}
		if got != want {
			t.Errorf("name after a write with a %T key = %q, want %q", id, got, want)
		}
	}
}
