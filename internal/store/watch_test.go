package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// TestWatchKeepsGoneUntilForgotten: a member silent for the gone bound is listed as gone but stays in
// the liveness set, counted as lapsed for every caller, until Forget removes it; Forget leaves a member
// that has beaten again. Before the fix Watch removed gone members itself, so the other processes
// stopped bypassing the cache before the epoch was replaced for them.
func TestWatchKeepsGoneUntilForgotten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	live, counter := prefix+"live", prefix+"gen"
	s := store.NewRedis(rdb)
	const lapse, gone = 1500 * time.Millisecond, 10 * time.Second
	serverNow := func() float64 {
		now, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return float64(now.UnixMilli())
	}
	now := serverNow()
	if err := rdb.ZAdd(ctx, live,
		redis.Z{Score: now - float64((gone + time.Second).Milliseconds()), Member: "dead"},
		redis.Z{Score: now - float64((lapse + time.Second).Milliseconds()), Member: "slow"},
	).Err(); err != nil {
		t.Fatal(err)
	}
	for _, caller := range []string{"a", "b"} {
		res, err := s.Watch(ctx, live, caller, store.WatchBeat, lapse, gone, counter)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Gone, []string{"dead"}) || res.Lapsed != 2 {
			t.Errorf("Watch by %s: gone %q, lapsed %d; want [dead] and 2 (the gone one still counts)", caller, res.Gone, res.Lapsed)
		}
	}
	// "slow" beats again: Forget must not remove it even if named.
	if _, err := s.Watch(ctx, live, "slow", store.WatchBeat, lapse, gone, counter); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, live, gone, []string{"dead", "slow"}); err != nil {
		t.Fatal(err)
	}
	members, err := rdb.ZRange(ctx, live, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(members)
	if !slices.Equal(members, []string{"a", "b", "slow"}) {
		t.Errorf("members after Forget: %q; want a, b, slow", members)
	}
	res, err := s.Watch(ctx, live, "a", store.WatchCheck, lapse, gone, counter)
	if err != nil || len(res.Gone) != 0 || res.Lapsed != 0 {
		t.Errorf("Watch after Forget: %+v, %v; want nothing gone or lapsed", res, err)
	}
}
