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
	// Gone lists the members that have not beaten for the gone bound. Watch leaves them in the set, still
	// counted in Lapsed, so that every process keeps bypassing the cache until the caller has replaced
	// the database's epoch; the caller then removes them with [Redis.Forget].
	Gone []string
	// Lapsed is how many members, this one and the gone included, have not beaten for the lapse bound.
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
// clock, so the hosts' clocks never matter. It returns {lapsed, gone member, …}. It removes no one
// but a leaving caller: a member silent for the gone bound goes only by forgetScript, once the epoch
// has been replaced, so that no process stops bypassing the cache before that.
var watchScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == "1" then
	redis.call("ZADD", KEYS[1], now, ARGV[1])
elseif ARGV[2] == "2" then
	redis.call("ZREM", KEYS[1], ARGV[1])
end
local lapsed = redis.call("ZCOUNT", KEYS[1], "-inf", "(" .. (now - tonumber(ARGV[3])))
local gone = redis.call("ZRANGE", KEYS[1], "-inf", "(" .. (now - tonumber(ARGV[4])), "BYSCORE", "LIMIT", 0, 100)
redis.call("PEXPIRE", KEYS[1], 2 * tonumber(ARGV[4]))
table.insert(gone, 1, lapsed)
return gone
`)

// forgetScript removes the members ARGV[2…] of the liveness set KEYS[1] that are still silent for the
// gone bound ARGV[1] (ms): a member that has beaten again since it was found gone stays.
var forgetScript = redis.NewScript(`
local t = redis.call("TIME")
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
	local score = redis.call("ZSCORE", KEYS[1], ARGV[i])
	if score and tonumber(score) < cutoff then
		n = n + redis.call("ZREM", KEYS[1], ARGV[i])
	end
end
return n
`)

// Watch beats, checks or leaves (mode) the liveness set at liveKey for member, listing the members
// that have not beaten for gone (at most 100), and counting those that have not for lapse; in the same round trip
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
	vals, err := script.Slice()
	if err != nil || len(vals) == 0 {
		return WatchResult{}, wrap("watch", errors.Join(errors.New("unexpected reply"), err))
	}
	lapsed, ok := vals[0].(int64)
	if !ok {
		return WatchResult{}, wrap("watch", errors.New("unexpected reply"))
	}
	out := WatchResult{Lapsed: int(lapsed)}
	for _, v := range vals[1:] {
		m, ok := v.(string)
		if !ok {
			return WatchResult{}, wrap("watch", errors.New("unexpected reply"))
		}
		out.Gone = append(out.Gone, m)
	}
	switch n, err := counter.Uint64(); {
	case err == nil:
		out.Counter = n
	case !errors.Is(err, redis.Nil):
		return WatchResult{}, wrap("watch", err)
	}
	return out, nil
}

// Forget removes members from the liveness set at liveKey, each only if it has still not beaten for
// gone: a process found gone that has come back stays. Call it once the epoch of the database has been
// replaced for them.
func (r *Redis) Forget(ctx context.Context, liveKey string, gone time.Duration, members []string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, 0, 1+len(members))
	args = append(args, gone.Milliseconds())
	for _, m := range members {
		args = append(args, m)
	}
	keys := []string{liveKey}
	run := func(eval bool) error {
		pipe := r.c.Pipeline()
		var cmd *redis.Cmd
		if eval {
			cmd = forgetScript.Eval(ctx, pipe, keys, args...)
		} else {
			cmd = forgetScript.EvalSha(ctx, pipe, keys, args...)
		}
		_, _ = pipe.Exec(ctx)
		return cmd.Err()
	}
	err := run(false)
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		err = run(true)
	}
	if err != nil {
		return wrap("forget", err)
	}
	return nil
}
