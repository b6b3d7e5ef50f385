package lockstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisClient is the part of a go-redis client that [Redis] uses: SET NX
// (through SetNX), EXISTS, and the script commands that [redis.Script.Run]
// needs (EVALSHA, falling back to EVAL). *redis.Client, *redis.ClusterClient,
// *redis.Ring and [redis.UniversalClient] all satisfy it.
//
// NOTE: go-redis bounds socket I/O by a context's deadline only when the
// client has ContextTimeoutEnabled set; without it, a ctx deadline does not
// shorten a call to an unresponsive server.
type RedisClient interface {
	redis.Scripter
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
	Exists(ctx context.Context, keys ...string) *redis.IntCmd
}

var (
	_ RedisClient = (*redis.Client)(nil)
	_ RedisClient = (*redis.ClusterClient)(nil)
	_ RedisClient = (*redis.Ring)(nil)
	_ RedisClient = redis.UniversalClient(nil)

	_ Leases = (*Redis)(nil)
)

// releaseScript deletes KEYS[1] only if it still holds the owner token
// ARGV[1], and returns the number of keys deleted (0 or 1). GET and DEL run
// atomically in the script, so no other owner's SET can slip between them.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0
`)

// Redis is a [Leases] kept in Redis: a lease is a string key whose value is
// its owner's token, set with SET NX and a millisecond TTL (go-redis sends PX,
// or EX for a whole number of seconds, which means the same). Keys are used
// as given: the caller puts them under its namespace prefix. Every command
// touches a single key, so a Redis Cluster works unchanged.
//
// Redis is safe for concurrent use.
type Redis struct {
	c     RedisClient
	clock Clock
}

// NewRedis returns [Leases] stored through c, whose [Lease.Expires] are dated by clk (nil: the system
// clock). Redis itself expires a lease by its own clock, after the TTL in milliseconds: clk only dates
// Expires for the caller. It panics if c is nil.
func NewRedis(c RedisClient, clk Clock) *Redis {
	if c == nil {
		panic("lockstore: NewRedis with a nil client")
	}
	return &Redis{c: c, clock: orSystem(clk)}
}

// Acquire implements [Leases.Acquire] with SET key token NX PX ttl.
func (r *Redis) Acquire(ctx context.Context, key string, ttl time.Duration) (Lease, bool, error) {
	if err := checkTTL(ttl); err != nil {
		return Lease{}, false, err
	}
	// Measure the expiry before sending: Redis starts its TTL later, so
	// Expires is never after the server's expiry.
	l := Lease{Key: key, Token: newToken(), Expires: r.clock.Now().Add(ttl)}
	ok, err := r.c.SetNX(ctx, key, l.Token, ttl).Result()
	if err != nil {
		return l, false, fmt.Errorf("lockstore: acquire %q: %w", key, err)
	}
	if !ok {
		return Lease{}, false, nil
	}
	return l, true, nil
}

// reacquireScript sets KEYS[1] to the owner token ARGV[1] for ARGV[2]
// milliseconds if it is free or already holds that token, and returns 1; it
// returns 0 when another owner holds it.
var reacquireScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v ~= false and v ~= ARGV[1] then
	return 0
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1
`)

// Reacquire implements [Leases.Reacquire] with a script that sets the key
// when it is free or holds l's token (EVALSHA, falling back to EVAL).
func (r *Redis) Reacquire(ctx context.Context, l Lease, ttl time.Duration) (Lease, bool, error) {
	if err := checkTTL(ttl); err != nil {
		return Lease{}, false, err
	}
	if l.Token == "" {
		return Lease{}, false, nil
	}
	l.Expires = r.clock.Now().Add(ttl)
	n, err := reacquireScript.Run(ctx, r.c, []string{l.Key}, l.Token, ttl.Milliseconds()).Int()
	if err != nil {
		return l, false, fmt.Errorf("lockstore: reacquire %q: %w", l.Key, err)
	}
	if n != 1 {
		return Lease{}, false, nil
	}
	return l, true, nil
}

// Release implements [Leases.Release] with a compare-and-delete script,
// run by EVALSHA and, when the server does not know the script (NOSCRIPT:
// after a restart, failover or SCRIPT FLUSH), by EVAL.
func (r *Redis) Release(ctx context.Context, l Lease) (bool, error) {
	if l.Token == "" {
		return false, nil
	}
	n, err := releaseScript.Run(ctx, r.c, []string{l.Key}, l.Token).Int()
	if err != nil {
		return false, fmt.Errorf("lockstore: release %q: %w", l.Key, err)
	}
	return n == 1, nil
}

// Held reports, with EXISTS, whether anyone holds the lease on key now. It is for inspection (tools,
// tests): a waiter learns that a fill has ended by looking for the fill's result, not by polling the
// lease.
func (r *Redis) Held(ctx context.Context, key string) (bool, error) {
	n, err := r.c.Exists(ctx, key).Result()
	if err != nil {
		return false, fmt.Errorf("lockstore: held %q: %w", key, err)
	}
	return n == 1, nil
}
