package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// WatchResult is what one call of [Redis.Watch] learnt.
type WatchResult struct {
	// Gone is how many members had not beaten for the gone bound; Watch removed them.
	Gone int
	// Lapsed is how many members, this one included, have not beaten for the lapse bound (and were
	// not removed).
	Lapsed int
	// Counter is the value of the counter key (0 when missing).
	Counter uint64
}

// Watch modes: what Watch does with the caller's own member.
const (
	WatchCheck = iota // only look
	WatchBeat         // record a beat of the member now
	WatchLeave        // remove the member
)

// watchScript keeps the liveness set of the processes sharing a database: a sorted set whose members
// score the server's time (ms) of their last beat. KEYS[1] is the set; ARGV[1] the member, ARGV[2] the
// mode, ARGV[3] the lapse bound and ARGV[4] the gone bound, in ms. It times beats with the server's
// clock, so the hosts' clocks never matter. It returns {gone, lapsed}.
var watchScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == "1" then
	redis.call("ZADD", KEYS[1], now, ARGV[1])
elseif ARGV[2] == "2" then
	redis.call("ZREM", KEYS[1], ARGV[1])
end
local gone = redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. (now - tonumber(ARGV[4])))
local lapsed = redis.call("ZCOUNT", KEYS[1], "-inf", "(" .. (now - tonumber(ARGV[3])))
redis.call("PEXPIRE", KEYS[1], 2 * tonumber(ARGV[4]))
return {gone, lapsed}
`)

// Watch beats, checks or leaves (mode) the liveness set at liveKey for member, removing the members
// that have not beaten for gone, and counting those that have not for lapse; in the same round trip
// it reads the counter at counterKey (see [BumpRead.Counter]). The set expires when no one has beaten
// for twice gone. lapse must be below gone, both at least a millisecond.
func (r *Redis) Watch(ctx context.Context, liveKey, member string, mode int, lapse, gone time.Duration, counterKey string) (WatchResult, error) {
	keys := []string{liveKey}
	args := []any{member, strconv.Itoa(mode), lapse.Milliseconds(), gone.Milliseconds()}
	run := func(eval bool) (*redis.Cmd, *redis.StringCmd, error) {
		pipe := r.c.Pipeline()
		var script *redis.Cmd
		if eval {
			script = watchScript.Eval(ctx, pipe, keys, args...)
		} else {
			script = watchScript.EvalSha(ctx, pipe, keys, args...)
		}
		counter := pipe.Get(ctx, counterKey)
		_, err := pipe.Exec(ctx)
		return script, counter, err
	}
	script, counter, err := run(false)
	if redis.HasErrorPrefix(script.Err(), "NOSCRIPT") {
		script, counter, err = run(true)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return WatchResult{}, wrap("watch", err)
	}
	vals, err := script.Int64Slice()
	if err != nil || len(vals) != 2 {
		return WatchResult{}, wrap("watch", errors.Join(errors.New("unexpected reply"), err))
	}
	out := WatchResult{Gone: int(vals[0]), Lapsed: int(vals[1])}
	switch n, err := counter.Uint64(); {
	case err == nil:
		out.Counter = n
	case !errors.Is(err, redis.Nil):
		return WatchResult{}, wrap("watch", err)
	}
	return out, nil
}
