package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisClient is the part of a go-redis client that [Redis] uses.
// [*redis.Client], [*redis.ClusterClient], [*redis.Ring] and
// [redis.UniversalClient] all satisfy it.
type RedisClient interface {
	Pipeline() redis.Pipeliner
	Set(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd
	Del(ctx context.Context, keys ...string) *redis.IntCmd
	Scan(ctx context.Context, cursor uint64, match string, count int64) *redis.ScanCmd
	Ping(ctx context.Context) *redis.StatusCmd
	MGet(ctx context.Context, keys ...string) *redis.SliceCmd
}

var (
	_ RedisClient = (*redis.Client)(nil)
	_ RedisClient = (*redis.ClusterClient)(nil)
	_ RedisClient = (*redis.Ring)(nil)
	_ RedisClient = redis.UniversalClient(nil)

	_ masterRanger = (*redis.ClusterClient)(nil)
	_ shardRanger  = (*redis.Ring)(nil)
)

// masterRanger is a client spread over several nodes, such as
// [*redis.ClusterClient]: Scan walks every master.
type masterRanger interface {
	ForEachMaster(ctx context.Context, fn func(ctx context.Context, c *redis.Client) error) error
}

// shardRanger is a client spread over several shards, such as
// [*redis.Ring]: Scan walks every shard.
type shardRanger interface {
	ForEachShard(ctx context.Context, fn func(ctx context.Context, c *redis.Client) error) error
}

// scanCount is the COUNT hint of each SCAN call.
const scanCount = 1000

// Redis is a [Store] in Redis, standalone, Sentinel or Cluster. Every step
// that touches several keys is a pipeline of single-key commands, never a
// multi-key command or a transaction, so a Cluster works unchanged. The one
// script, of [Redis.SetHashIf], touches two keys that its caller puts in one
// slot. It is safe for concurrent use.
type Redis struct {
	c RedisClient
	// single: c talks to one server (a *redis.Client, Sentinel failover included), so a read of the
	// entry and its tokens can be one MGET; sharded clients (Cluster, Ring) use a pipeline of GETs,
	// since an MGET across hash slots fails.
	single bool
	// maxValue bounds the values Fetch returns (LimitValues may change it while it is used).
	maxValue atomic.Int64
}

var _ Store = (*Redis)(nil)

// NewRedis returns a [Redis] store using c, which stays owned by the caller
// (NewRedis never closes it). It panics if c is nil.
//
// NOTE: go-redis applies a ctx deadline to socket reads and writes only when
// the client was created with ContextTimeoutEnabled set in its options;
// otherwise a call waits for the client's own read and write timeouts
// whatever the ctx says. NewRedis cannot check this: set it.
func NewRedis(c RedisClient) *Redis {
	if c == nil {
		panic("store: NewRedis with nil client")
	}
	_, single := c.(*redis.Client)
	r := &Redis{c: c, single: single}
	r.maxValue.Store(DefaultMaxValueBytes)
	return r
}

// LimitValues sets the bound on the values that Fetch returns to n bytes
// (n <= 0: [DefaultMaxValueBytes]) and returns r. Call it before r is used.
func (r *Redis) LimitValues(n int64) *Redis {
	if n <= 0 || n > DefaultMaxValueBytes {
		n = DefaultMaxValueBytes
	}
	r.maxValue.Store(n)
	return r
}

// Fetch implements [Store.Fetch] with one pipeline: a GETRANGE of the value's
// first maxValue+1 bytes, so that an oversized value is never transferred in
// full, then the token reads of queueTokenReads.
func (r *Redis) Fetch(ctx context.Context, key string, tokenKeys []string, tokens []uint64) ([]byte, error) {
	if len(tokens) != len(tokenKeys) {
		return nil, wrap("fetch", errTokenLen)
	}
	pipe := r.c.Pipeline()
	maxValue := r.maxValue.Load()
	get := pipe.GetRange(ctx, key, 0, maxValue)
	reads := r.queueTokenReads(ctx, pipe, tokenKeys)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && !isWrongType(err) {
		return nil, wrap("fetch", err)
	}
	// Exec reports only the first failure, which may be a harmless
	// redis.Nil or a per-key WRONGTYPE ahead of a real error: look at every reply.
	if err := reads.decode(tokens); err != nil {
		return nil, wrap("fetch", err)
	}
	s, err := get.Result()
	switch {
	case isWrongType(err):
		return nil, &KeyError{Op: "fetch", Key: key, Err: ErrWrongType}
	case err != nil:
		return nil, wrap("fetch", err)
	case int64(len(s)) > maxValue:
		return nil, &KeyError{Op: "fetch", Key: key, Err: ErrTooLarge}
	case len(s) == 0: // GETRANGE reads a missing key as ""
		return nil, nil
	}
	b, _ := get.Bytes() // go-redis reads each reply into a fresh buffer: no copy needed
	return b, nil
}

// isWrongType reports a WRONGTYPE reply: an operation on a key holding another type.
func isWrongType(err error) bool { return err != nil && redis.HasErrorPrefix(err, "WRONGTYPE") }

// stringResult returns the reply of a GET, with ok false for a missing key.
func stringResult(cmd redis.Cmder) (s string, ok bool, err error) {
	sc, isString := cmd.(*redis.StringCmd)
	if !isString {
		return "", false, errors.New("unexpected reply type")
	}
	s, err = sc.Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return s, err == nil, err
}

// EnsureTokens implements [Store.EnsureTokens] with one pipeline: a SET NX of
// a fresh token for every key, then a GET of every key.
func (r *Redis) EnsureTokens(ctx context.Context, tokenKeys []string, tokens []uint64) error {
	if len(tokens) != len(tokenKeys) {
		return wrap("ensure tokens", errTokenLen)
	}
	if len(tokenKeys) == 0 {
		return nil
	}
	pipe := r.c.Pipeline()
	for i, k := range tokenKeys {
		tokens[i] = newToken()
		enc := encodeToken(tokens[i])
		pipe.SetNX(ctx, k, enc[:], 0)
	}
	for _, k := range tokenKeys {
		pipe.Get(ctx, k)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) && !isWrongType(err) {
		return wrap("ensure tokens", err)
	}
	for _, cmd := range cmds[:len(tokenKeys)] {
		if err := cmd.Err(); err != nil && !isWrongType(err) {
			return wrap("ensure tokens", err)
		}
	}
	var wrong []int
	for i, cmd := range cmds[len(tokenKeys):] {
		s, ok, err := stringResult(cmd)
		if isWrongType(err) {
			wrong = append(wrong, i)
			continue
		}
		if err != nil {
			return wrap("ensure tokens", err)
		}
		// A key deleted between our SET NX and GET reads as missing: keep
		// the value we proposed. It may not be the one that ends up stored,
		// which costs a miss later, but it is never 0 and so never matches
		// a missing token.
		if ok {
			tokens[i] = decodeToken(s)
		}
	}
	if len(wrong) > 0 {
		return r.replaceWrongTypes(ctx, tokenKeys, tokens, wrong)
	}
	return nil
}

// replaceWrongTypes replaces with the fresh tokens proposed in tokens the
// token keys at the indexes wrong, which hold another type than a value
// (one bad key must not fail every read of its table). Replacing a token only
// invalidates; concurrent callers may each write their own, which costs a
// miss, never a stale read.
func (r *Redis) replaceWrongTypes(ctx context.Context, tokenKeys []string, tokens []uint64, wrong []int) error {
	pipe := r.c.Pipeline()
	for _, i := range wrong {
		enc := encodeToken(tokens[i])
		pipe.Set(ctx, tokenKeys[i], enc[:], 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap("ensure tokens", err)
	}
	return nil
}

// Bump implements [Store.Bump] with one pipeline of SETs.
func (r *Redis) Bump(ctx context.Context, tokenKeys []string) error {
	if len(tokenKeys) == 0 {
		return nil
	}
	pipe := r.c.Pipeline()
	for _, k := range tokenKeys {
		enc := encodeToken(newToken())
		pipe.Set(ctx, k, enc[:], 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap("bump", err)
	}
	return nil
}

// Set implements [Store.Set]. A TTL below the millisecond resolution of
// Redis is rounded up to one millisecond.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return wrap("set", errBadTTL)
	}
	ttl = max(ttl, time.Millisecond)
	if err := r.c.Set(ctx, key, value, ttl).Err(); err != nil {
		return wrap("set", err)
	}
	return nil
}

// Delete implements [Store.Delete]. Several keys go as a pipeline of
// single-key DELs, since one DEL of keys in different Cluster slots fails.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	var err error
	switch len(keys) {
	case 0:
		return nil
	case 1:
		err = r.c.Del(ctx, keys[0]).Err()
	default:
		pipe := r.c.Pipeline()
		for _, k := range keys {
			pipe.Del(ctx, k)
		}
		_, err = pipe.Exec(ctx)
	}
	if err != nil {
		return wrap("delete", err)
	}
	return nil
}

// Ping implements [Store.Ping] with PING.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// AddHot implements [Store.AddHot] with one pipeline: ZUNIONSTORE of the key
// onto itself with WEIGHTS decay, a ZINCRBY per member, ZREMRANGEBYSCORE
// below 1 and PEXPIRE. A TTL below the millisecond is rounded up to one.
func (r *Redis) AddHot(ctx context.Context, key string, hits map[string]float64, decay float64, ttl time.Duration) error {
	if err := checkHot(decay, ttl); err != nil {
		return wrap("add hot", err)
	}
	pipe := r.c.Pipeline()
	pipe.ZUnionStore(ctx, key, &redis.ZStore{Keys: []string{key}, Weights: []float64{decay}})
	for m, n := range hits {
		pipe.ZIncrBy(ctx, key, n, m)
	}
	pipe.ZRemRangeByScore(ctx, key, "-inf", "(1")
	pipe.PExpire(ctx, key, max(ttl, time.Millisecond))
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap("add hot", err)
	}
	return nil
}

// TopHot implements [Store.TopHot] with ZREVRANGE WITHSCORES.
func (r *Redis) TopHot(ctx context.Context, key string, n int) ([]HotMember, error) {
	if n <= 0 {
		return nil, nil
	}
	pipe := r.c.Pipeline()
	cmd := pipe.ZRevRangeWithScores(ctx, key, 0, int64(n-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap("top hot", err)
	}
	zs := cmd.Val()
	out := make([]HotMember, len(zs))
	for i, z := range zs {
		m, _ := z.Member.(string)
		out[i] = HotMember{Member: m, Score: z.Score}
	}
	return out, nil
}
