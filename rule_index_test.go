package cachedsql_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// ruleKeys returns the sorted keys of the given kind (hot sets or rule indexes) of rule under namespace
// ns, of every database.
func ruleKeys(t *testing.T, rdb *redis.Client, ns string, kind keying.KeyKind, rule string) []string {
	t.Helper()
	l := keying.NewLayout(ns, "")
	keys, err := rdb.Keys(context.Background(), l.KindPrefix(kind)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool {
		name, ok := l.Parse(k)
		return !ok || name.Kind != kind || name.Rule != rule
	})
	slices.Sort(keys)
	return keys
}

// ruleSetMembers returns the sorted union of the members of the rule index sets of rule under ns.
func ruleSetMembers(t *testing.T, rdb *redis.Client, ns, rule string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, s := range ruleKeys(t, rdb, ns, keying.KeyRuleIndex, rule) {
		m, err := rdb.SMembers(ctx, s).Result()
		if err != nil {
			t.Fatalf("SMEMBERS %s: %v", s, err)
		}
		ttl, err := rdb.PTTL(ctx, s).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("PTTL %s = %v, %v; want a positive TTL", s, ttl, err)
		}
		out = append(out, m...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestRuleIndexSets: each fill adds its entry key to its rule's set, so after reads under two
// rules each rule's sets hold exactly the entries read under it.
func TestRuleIndexSets(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.Redis(t)
	ns := strings.TrimSuffix(testenv.Prefix(t), ":")
	rules, err := cachedsql.NewRules(
		cachedsql.Rule{Name: "users", Match: cachedsql.Match{TablesAny: []string{"users"}}, TTL: time.Minute},
		cachedsql.Rule{Name: "orders", Match: cachedsql.Match{TablesAny: []string{"orders"}}, TTL: time.Minute},
	)
	if err != nil {
		t.Fatal(err)
	}
	_, db := openSQLite(t, cachedsql.Options{Rules: rules, Redis: rdb, Namespace: ns})

	usersBefore := entryKeys(t, rdb, ns)
	queryAll(t, db, ctx, `SELECT name FROM users WHERE id = ?`, 1)
	queryAll(t, db, ctx, `SELECT name FROM users WHERE id = ?`, 2)
	users := newKeys(entryKeys(t, rdb, ns), usersBefore)
	queryAll(t, db, ctx, `SELECT total FROM orders WHERE id = ?`, 1)
	orders := newKeys(entryKeys(t, rdb, ns), append(usersBefore, users...))
	if len(users) != 2 || len(orders) != 1 {
		t.Fatalf("entries filled: users %q, orders %q; want 2 and 1", users, orders)
	}

	tests := []struct {
		rule string
		want []string
	}{
		{"users", users},
		{"orders", orders},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := ruleSetMembers(t, rdb, ns, tt.rule)
			if !slices.Equal(got, tt.want) {
				t.Errorf("members of rule %s's sets = %q, want %q", tt.rule, got, tt.want)
			}
		})
	}
}

// entryKeys returns the sorted cached-result keys of namespace ns.
func entryKeys(t *testing.T, rdb *redis.Client, ns string) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), ns+":q:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// newKeys returns the keys of after that are not in before.
func newKeys(after, before []string) []string {
	var out []string
	for _, k := range after {
		if !slices.Contains(before, k) {
			out = append(out, k)
		}
	}
	return out
}
