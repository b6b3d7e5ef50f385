package cachedsql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// TestHotSetFeed: hits of an entry of a refresh_ahead rule reach the rule's sorted set in Redis, keyed
// by the entry's key and scored by the hits, and the score halves at each later feed without hits
// until it drops below 1 and the member goes.
func TestHotSetFeed(t *testing.T) {
	t.Parallel()
	const hits = 4
	rdb, prefix := testenv.Redis(t), testenv.Prefix(t)
	opts := cachedsql.Options{
		Redis:     rdb,
		Namespace: strings.TrimSuffix(prefix, ":"),
		Rules: mustRules(t, cachedsql.Rule{Name: "users", Match: cachedsql.Match{Default: true},
			TTL: time.Minute, RefreshAhead: true}),
	}
	_, db := openSQLite(t, opts)
	readName(t, db, 1) // the miss that fills the entry
	for range hits {
		readName(t, db, 1)
	}
	if got := stats(t, db).Hits; got != hits {
		t.Fatalf("hits: got %d, want %d", got, hits)
	}

	ctx := context.Background()
	var setKey string
	eventually(t, "the hot set", func() bool {
		sets := ruleKeys(t, rdb, opts.Namespace, keying.KeyHot, "users")
		setKey = strings.Join(sets, " ")
		return len(sets) == 1
	})
	for _, want := range []float64{hits, hits / 2, hits / 4} {
		var got []redis.Z
		eventually(t, fmt.Sprintf("a score of %g", want), func() bool {
			var err error
			got, err = rdb.ZRangeWithScores(ctx, setKey, 0, -1).Result()
			if err != nil {
				t.Fatalf("ZRANGE %s: %v", setKey, err)
			}
			return len(got) == 1 && got[0].Score == want
		})
		member := got[0].Member.(string)
		if !strings.HasPrefix(member, prefix+"q:") {
			t.Errorf("hot member %q: want an entry key under %q", member, prefix+"q:")
		}
		if n := rdb.Exists(ctx, member).Val(); n != 1 {
			t.Errorf("hot member %q: EXISTS = %d, want 1 (the entry)", member, n)
		}
	}
	eventually(t, "the member to drop below 1", func() bool { return rdb.Exists(ctx, setKey).Val() == 0 })
}

// TestHotSetTTL: the hot set of a rule expires ten rule TTLs after its last feed, and at least a minute.
func TestHotSetTTL(t *testing.T) {
	rdb, prefix := testenv.Redis(t), testenv.Prefix(t)
	opts := cachedsql.Options{
		Redis:     rdb,
		Namespace: strings.TrimSuffix(prefix, ":"),
		Rules: mustRules(t, cachedsql.Rule{Name: "users", Match: cachedsql.Match{Default: true},
			TTL: time.Hour, RefreshAhead: true}),
	}
	_, db := openSQLite(t, opts)
	for range 3 {
		readName(t, db, 2)
	}
	ctx := context.Background()
	var setKey string
	eventually(t, "the hot set", func() bool {
		sets := ruleKeys(t, rdb, opts.Namespace, keying.KeyHot, "users")
		setKey = strings.Join(sets, " ")
		return len(sets) == 1
	})
	ttl := rdb.PTTL(ctx, setKey).Val()
	if ttl <= 9*time.Hour || ttl > 10*time.Hour {
		t.Errorf("PTTL of the hot set = %v, want about 10h (ten rule TTLs)", ttl)
	}
}
