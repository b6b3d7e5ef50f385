package cachedsql_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

const (
	userByID   = `SELECT id, name FROM users WHERE id = ?`
	countUsers = `SELECT count(*) FROM users`
)

// TestRowEntries checks the read side of a row rule: a miss, then hits; a missing row is not cached;
// with Redis the entry is a hash holding one field per column.
func TestRowEntries(t *testing.T) {
	storeVariants(t, func(t *testing.T, opts cachedsql.Options) {
		onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) {
			opts := opts
			if opts.Redis != nil {
				opts.Namespace = namespace(t) // each attempt its own
			}
			opts.Rules = rowRules(t, false)
			_, db := openSQLite(t, opts)
			watch(db)
			if h, m := hitsOf(t, db, func() { userName(t, db, 1) }); h != 0 || m != 1 {
				t.Fatalf("first read: %d hits, %d misses; want a miss", h, m)
			}
			for range 3 {
				if h, _ := hitsOf(t, db, func() {
					if got := userName(t, db, 1); got != "ann" {
						t.Fatalf("user 1 = %q, want ann", got)
					}
				}); h != 1 {
					t.Fatal("repeated read: not a hit")
				}
			}
			for range 2 {
				if h, m := hitsOf(t, db, func() { userName(t, db, 99) }); h != 0 || m != 1 {
					t.Fatalf("read of a missing row: %d hits, %d misses; want a miss every time", h, m)
				}
			}
			if opts.Redis == nil {
				return
			}
			rdb := testenv.Redis(t)
			keys := scanKeys(t, rdb, opts.Namespace+":r:*:*:*")
			if len(keys) != 1 {
				t.Fatalf("row entries in Redis: %q, want one", keys)
			}
			if typ := rdb.Type(context.Background(), keys[0]).Val(); typ != "hash" {
				t.Fatalf("row entry %s is a %s, want a hash", keys[0], typ)
			}
			fields := rdb.HKeys(context.Background(), keys[0]).Val()
			if strings.Join(slices.Sorted(slices.Values(fields)), ",") != "_meta,id,name" {
				t.Fatalf("row entry fields = %q, want _meta, id, name", fields)
			}
		})
	})
}

// warmRows reads users 1..3 and the count, so that each is cached.
func warmRows(t testing.TB, db *sql.DB) {
	t.Helper()
	for id := 1; id <= 3; id++ {
		userName(t, db, id)
		userName(t, db, id)
	}
	queryAll(t, db, context.Background(), countUsers)
}

// expectRows checks which of users 1..3 are hits now (and that their names are want[id]), and whether
// the count is.
func expectRows(t testing.TB, db *sql.DB, what string, hitIDs []int, countHit bool, want map[int]string) {
	t.Helper()
	for id := 1; id <= 3; id++ {
		var name string
		h, _ := hitsOf(t, db, func() { name = userName(t, db, id) })
		wantHit := false
		for _, x := range hitIDs {
			wantHit = wantHit || x == id
		}
		if (h == 1) != wantHit {
			t.Errorf("%s: read of user %d hit = %v, want %v", what, id, h == 1, wantHit)
		}
		if w, ok := want[id]; ok && name != w {
			t.Errorf("%s: user %d = %q, want %q", what, id, name, w)
		}
	}
	h, _ := hitsOf(t, db, func() { queryAll(t, db, context.Background(), countUsers) })
	if (h == 1) != countHit {
		t.Errorf("%s: count hit = %v, want %v", what, h == 1, countHit)
	}
}

// TestRowScopedInvalidation checks that writes pinned to rows invalidate those rows and every
// result-set entry of the table, and leave the other rows' entries valid; and that writes that cannot
// be pinned invalidate every row.
func TestRowScopedInvalidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write string
		args  []any
		hits  []int // rows still cached after the write
		want  map[int]string
	}{
		{"update by id", `UPDATE users SET name = ? WHERE id = ?`, []any{"bea", 2}, []int{1, 3}, map[int]string{2: "bea"}},
		{"table name quoted in another case", `UPDATE "USERS" SET name = ? WHERE id = ?`, []any{"bea", 2}, []int{1, 3}, map[int]string{2: "bea"}},
		{"update by literal id", `UPDATE users SET name = 'bea' WHERE id = 2`, nil, []int{1, 3}, map[int]string{2: "bea"}},
		{"update with id as text", `UPDATE users SET name = ? WHERE id = ?`, []any{"bea", "2"}, []int{1, 3}, map[int]string{2: "bea"}},
		{"update in list", `UPDATE users SET name = upper(name) WHERE id IN (?, ?)`, []any{1, 3}, []int{2}, map[int]string{1: "ANN", 3: "CY"}},
		{"delete by id", `DELETE FROM users WHERE id = ?`, []any{3}, []int{1, 2}, map[int]string{3: ""}},
		{"upsert by id", `INSERT INTO users (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name`, []any{1, "ada"}, []int{2, 3}, map[int]string{1: "ada"}},
		{"insert new row", `INSERT INTO users (id, name) VALUES (?, ?)`, []any{4, "dee"}, []int{1, 2, 3}, nil},
		{"insert without key", `INSERT INTO users (name) VALUES (?)`, []any{"eve"}, []int{1, 2, 3}, nil},
		{"update not pinned", `UPDATE users SET name = name || '!' WHERE name = ?`, []any{"bob"}, nil, map[int]string{2: "bob!"}},
		{"update all", `UPDATE users SET score = 0`, nil, nil, nil},
		{"or is not pinned", `UPDATE users SET name = ? WHERE id = ? OR id = ?`, []any{"x", 1, 2}, nil, map[int]string{1: "x", 2: "x", 3: "cy"}},
		{"replace is not pinned", `REPLACE INTO users (id, name) VALUES (?, ?)`, []any{2, "bo"}, nil, map[int]string{2: "bo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeVariants(t, func(t *testing.T, opts cachedsql.Options) {
				opts.Rules = rowRules(t, false)
				_, db := openSQLite(t, opts)
				warmRows(t, db)
				expectRows(t, db, "before", []int{1, 2, 3}, true, nil)
				mustExec(t, db, tc.write, tc.args...)
				expectRows(t, db, "after "+tc.name, tc.hits, false, tc.want)
			})
		})
	}
}

// TestRowScopedTransactions checks pinned writes in transactions: invalidated after Commit (not
// before), and not at all after Rollback.
func TestRowScopedTransactions(t *testing.T) {
	storeVariants(t, func(t *testing.T, opts cachedsql.Options) {
		opts.Rules = rowRules(t, false)
		_, db := openSQLite(t, opts)
		ctx := context.Background()
		warmRows(t, db)

		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, `UPDATE users SET name = ? WHERE id = ?`, "abe", 1)
		mustExec(t, tx, `DELETE FROM users WHERE id = ?`, 3)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		expectRows(t, db, "after rollback", []int{1, 2, 3}, true, map[int]string{1: "ann", 3: "cy"})

		tx, err = db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, `UPDATE users SET name = ? WHERE id = ?`, "abe", 1)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		expectRows(t, db, "after commit", []int{2, 3}, false, map[int]string{1: "abe"})
	})
}

// TestWriteThroughRow checks that with write_through a pinned write leaves the row cached with its new
// values: the next read is a hit, in autocommit, in a transaction and for an inserted row.
func TestWriteThroughRow(t *testing.T) {
	storeVariants(t, func(t *testing.T, opts cachedsql.Options) {
		opts.Rules = rowRules(t, true)
		_, db := openSQLite(t, opts)
		ctx := context.Background()
		warmRows(t, db)

		mustExec(t, db, `UPDATE users SET name = ? WHERE id = ?`, "bea", 2)
		expectRows(t, db, "after update", []int{1, 2, 3}, false, map[int]string{2: "bea"})

		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, `UPDATE users SET name = ? WHERE id IN (?, ?)`, "zed", 1, 3)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		expectRows(t, db, "after commit", []int{1, 2, 3}, false, map[int]string{1: "zed", 3: "zed"})

		mustExec(t, db, `INSERT INTO users (id, name) VALUES (?, ?)`, 7, "new")
		if h, _ := hitsOf(t, db, func() {
			if got := userName(t, db, 7); got != "new" {
				t.Fatalf("inserted user = %q", got)
			}
		}); h != 1 {
			t.Fatal("read of an inserted row: not a hit")
		}
		// A delete writes through "no row": the next read queries.
		mustExec(t, db, `DELETE FROM users WHERE id = ?`, 7)
		if got := userName(t, db, 7); got != "" {
			t.Fatalf("deleted user = %q", got)
		}
		if st := stats(t, db); st.WriteThroughs < 4 || st.WriteThroughFailures != 0 {
			t.Fatalf("WriteThroughs = %d, failures = %d; want at least 4 and none", st.WriteThroughs, st.WriteThroughFailures)
		}
	})
}

// TestRowRuleValidation checks that a row rule's statement must be a lookup of one row by its key.
func TestRowRuleValidation(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		key  []string
		want string // in the error; "" for none
	}{
		{`SELECT id, name FROM users WHERE id = $1`, []string{"id"}, ""},
		{`SELECT * FROM accounts WHERE tenant = $1 AND id = $2 LIMIT 1`, []string{"tenant", "id"}, ""},
		{`SELECT * FROM users WHERE id = $1`, []string{"email"}, `key column "email" is not compared`},
		{`SELECT * FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = $1`, []string{"id"}, "not a lookup of one row"},
		{`SELECT * FROM users WHERE id = $1 OR id = $2`, []string{"id"}, "not a lookup of one row"},
		{`SELECT * FROM users`, []string{"id"}, "not a lookup of one row"},
		{`SELECT * FROM users WHERE id = $1 FOR UPDATE`, []string{"id"}, "not a cacheable read"},
	} {
		_, err := cachedsql.NewRules(cachedsql.Rule{Name: "r", Match: cachedsql.Match{SQL: tc.sql}, Key: tc.key})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.sql, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.sql, err, tc.want)
		}
	}
	if _, err := cachedsql.NewRules(cachedsql.Rule{Name: "r", Match: cachedsql.Match{Default: true}, Key: []string{"id"}}); err == nil ||
		!strings.Contains(err.Error(), "match.sql") {
		t.Errorf("row rule without match.sql: %v", err)
	}
}

// TestWriteThroughDefaults checks that a rule file's defaults can turn write-through on for every rule
// of the file (a table's rules kept in one file).
func TestWriteThroughDefaults(t *testing.T) {
	rs, err := cachedsql.ParseRules("accounts.yaml", []byte(`version: 1
defaults: { write_through: true, write_through_limit: 4 }
rules:
  - name: account
    match: { sql: "SELECT * FROM accounts WHERE id = $1" }
    key: [id]
  - name: accounts-of-owner
    match: { sql: "SELECT * FROM accounts WHERE owner = $1" }
  - name: account-audit
    match: { tables_any: [audit] }
    write_through: false
`))
	if err != nil {
		t.Fatal(err)
	}
	got := rs.All()
	if !got[0].WriteThrough || !got[1].WriteThrough || got[1].WriteThroughLimit != 4 || got[2].WriteThrough {
		t.Errorf("write_through from defaults: %v %v (limit %d) %v; want true, true (4), false",
			got[0].WriteThrough, got[1].WriteThrough, got[1].WriteThroughLimit, got[2].WriteThrough)
	}
}

// TestRowRulesPreparedStatements checks row rules and write-through through prepared statements (as
// GORM's PrepareStmt and sqlx use them): the read is a row entry, the pinned write is scoped and
// written through.
func TestRowRulesPreparedStatements(t *testing.T) {
	storeVariants(t, func(t *testing.T, opts cachedsql.Options) {
		opts.Rules = rowRules(t, true)
		_, db := openSQLite(t, opts)
		ctx := context.Background()
		read, err := db.PrepareContext(ctx, userByID)
		if err != nil {
			t.Fatal(err)
		}
		defer read.Close()
		write, err := db.PrepareContext(ctx, `UPDATE users SET name = ? WHERE id = ?`)
		if err != nil {
			t.Fatal(err)
		}
		defer write.Close()
		name := func(id int) (n string, hit bool) {
			h, _ := hitsOf(t, db, func() {
				if err := read.QueryRowContext(ctx, id).Scan(new(int), &n); err != nil {
					t.Fatal(err)
				}
			})
			return n, h == 1
		}
		name(1)
		name(2)
		if _, err := write.ExecContext(ctx, "bea", 2); err != nil {
			t.Fatal(err)
		}
		if n, hit := name(2); n != "bea" || !hit {
			t.Errorf("written row: %q, hit %v; want bea and a hit", n, hit)
		}
		if n, hit := name(1); n != "ann" || !hit {
			t.Errorf("other row: %q, hit %v; want ann and a hit", n, hit)
		}
	})
}

// TestCorruptRowEntry checks that a row entry whose hash was altered (a field changed, a field
// removed, a foreign field added) is a miss, counted and deleted, and that the next read fills it again.
func TestCorruptRowEntry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alter func(ctx context.Context, rdb *redis.Client, key string) error
	}{
		{"value altered", func(ctx context.Context, rdb *redis.Client, key string) error {
			return rdb.HSet(ctx, key, "name", "garbage").Err()
		}},
		{"field removed", func(ctx context.Context, rdb *redis.Client, key string) error {
			return rdb.HDel(ctx, key, "name").Err()
		}},
		{"meta altered", func(ctx context.Context, rdb *redis.Client, key string) error {
			return rdb.HSet(ctx, key, "_meta", "x").Err()
		}},
		{"field added", func(ctx context.Context, rdb *redis.Client, key string) error {
			return rdb.HSet(ctx, key, "extra", "1").Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) {
				rdb, ns := testenv.Redis(t), namespace(t)
				_, db := openSQLite(t, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: rowRules(t, false)})
				watch(db)
				ctx := context.Background()
				userName(t, db, 1)
				keys := scanKeys(t, rdb, ns+":r:*}:*")
				if len(keys) != 1 {
					t.Fatalf("row entries: %q, want one", keys)
				}
				if err := tc.alter(ctx, rdb, keys[0]); err != nil {
					t.Fatal(err)
				}
				before := stats(t, db)
				if got := userName(t, db, 1); got != "ann" {
					t.Fatalf("read of a corrupt entry: %q, want ann", got)
				}
				after := stats(t, db)
				if after.Hits != before.Hits || after.CorruptEntries != before.CorruptEntries+1 {
					t.Errorf("hits %d→%d, corrupt %d→%d; want a miss counted as corrupt", before.Hits, after.Hits,
						before.CorruptEntries, after.CorruptEntries)
				}
				if h, _ := hitsOf(t, db, func() { userName(t, db, 1) }); h != 1 {
					t.Error("the entry was not filled again")
				}
			})
		})
	}
}
