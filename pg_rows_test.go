package cachedsql_test

import (
	"context"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
)

// TestPostgresRowKeys checks row rules on PostgreSQL with a UUID key and a composite key, where writes
// spell key values differently from reads (upper-case UUID text, other integer types): the written
// row is invalidated (fresh), the others stay hits; a write pinned to part of a composite key
// invalidates every row entry of its table.
func TestPostgresRowKeys(t *testing.T) {
	const (
		accountByID = `SELECT id, owner, balance FROM accounts WHERE id = $1`
		memberRole  = `SELECT role FROM members WHERE org_id = $1 AND user_id = $2`
		acct1       = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
		acct2       = "b1ffcd00-0d1c-4ef8-bb6d-6bb9bd380a22"
	)
	rules := mustRules(t,
		cachedsql.Rule{Name: "account", Match: cachedsql.Match{SQL: accountByID}, Key: []string{"id"}, TTL: time.Minute},
		cachedsql.Rule{Name: "member", Match: cachedsql.Match{SQL: memberRole}, Key: []string{"org_id", "user_id"}, TTL: time.Minute},
	)
	bare, db, _ := pgRedis(t, cachedsql.Options{Rules: rules})
	mustExec(t, bare, `CREATE TABLE accounts (id uuid PRIMARY KEY, owner text, balance int)`)
	mustExec(t, bare, `INSERT INTO accounts VALUES ($1, 'ann', 100), ($2, 'bob', 50)`, acct1, acct2)
	mustExec(t, bare, `CREATE TABLE members (org_id int, user_id bigint, role text, PRIMARY KEY (org_id, user_id))`)
	mustExec(t, bare, `INSERT INTO members VALUES (1, 10, 'admin'), (1, 11, 'dev'), (2, 10, 'viewer')`)
	ctx := context.Background()

	balance := func(id string) (int, bool) {
		t.Helper()
		var b int
		h, _ := hitsOf(t, db, func() {
			if err := db.QueryRowContext(ctx, accountByID, id).Scan(new(string), new(string), &b); err != nil {
				t.Fatalf("account %s: %v", id, err)
			}
		})
		return b, h == 1
	}
	role := func(org, user int) (string, bool) {
		t.Helper()
		var r string
		h, _ := hitsOf(t, db, func() {
			if err := db.QueryRowContext(ctx, memberRole, org, user).Scan(&r); err != nil {
				t.Fatalf("member %d/%d: %v", org, user, err)
			}
		})
		return r, h == 1
	}
	warm := func() {
		balance(acct1)
		balance(acct2)
		role(1, 10)
		role(1, 11)
		role(2, 10)
	}

	warm()
	mustExec(t, db, `UPDATE accounts SET balance = balance - 30 WHERE id = $1`, "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}")
	if b, hit := balance(acct1); b != 70 || hit {
		t.Errorf("written account: balance %d, hit %v; want 70 and a miss", b, hit)
	}
	if b, hit := balance(acct2); b != 50 || !hit {
		t.Errorf("other account: balance %d, hit %v; want 50 and a hit", b, hit)
	}

	warm()
	mustExec(t, db, `UPDATE members SET role = $1 WHERE user_id = $2 AND org_id = $3`, "owner", int64(10), int32(1))
	for _, m := range []struct {
		org, user int
		want      string
		hit       bool
	}{{1, 10, "owner", false}, {1, 11, "dev", true}, {2, 10, "viewer", true}} {
		if r, hit := role(m.org, m.user); r != m.want || hit != m.hit {
			t.Errorf("member %d/%d: %q, hit %v; want %q, hit %v", m.org, m.user, r, hit, m.want, m.hit)
		}
	}

	warm()
	mustExec(t, db, `UPDATE members SET role = upper(role) WHERE org_id = $1`, 2)
	for _, m := range []struct {
		org, user int
		want      string
	}{{1, 10, "owner"}, {1, 11, "dev"}, {2, 10, "VIEWER"}} {
		if r, hit := role(m.org, m.user); r != m.want || hit {
			t.Errorf("member %d/%d after a write by org alone: %q, hit %v; want %q and a miss", m.org, m.user, r, hit, m.want)
		}
	}
}
