package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	errBadFields = errors.New("fields must be name, value pairs, at least one")
	// errWrongTypeGuard reports, as Redis does, a guard key that holds
	// something else than a token.
	errWrongTypeGuard = errors.New("guard key holds a hash, not a token")
)

// checkSetHash validates the arguments of [Store.SetHashIf].
func checkSetHash(fields []string, ttl time.Duration, index string, indexTTL time.Duration) error {
	switch {
	case ttl <= 0 || index != "" && indexTTL <= 0:
		return errBadTTL
	case len(fields) == 0 || len(fields)%2 != 0:
		return errBadFields
	}
	return nil
}

// setHashScript stores a hash if a token still holds the value its writer
// read. KEYS[1] is the token key, KEYS[2] the hash key; ARGV[1] is the
// expected token, ARGV[2] the TTL in milliseconds, and ARGV[3:] the names and
// values. It returns 1 if it stored, 0 if not. GET, DEL, HSET and PEXPIRE run
// atomically in the script, so no Bump can slip between the check and the
// write. HSET takes the pairs 500 at a time, below Lua's limit on unpack.
var setHashScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
	return 0
end
redis.call("DEL", KEYS[2])
for i = 3, #ARGV, 1000 do
	redis.call("HSET", KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call("PEXPIRE", KEYS[2], ARGV[2])
return 1
`)

// FetchHash implements [Store.FetchHash] with one pipeline: HGETALL, then
// the token reads of [Redis.Fetch] (one MGET on a single server, a GET each
// on a sharded one).
func (r *Redis) FetchHash(ctx context.Context, key string, tokenKeys []string, tokens []uint64) (map[string]string, error) {
	if len(tokens) != len(tokenKeys) {
		return nil, wrap("fetch hash", errTokenLen)
	}
	pipe := r.c.Pipeline()
	hash := pipe.HGetAll(ctx, key)
	reads := r.queueTokenReads(ctx, pipe, tokenKeys)
	// A missing token makes its GET fail with redis.Nil: the replies are
	// checked one by one below.
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && !isWrongType(err) {
		return nil, wrap("fetch hash", err)
	}
	if err := reads.decode(tokens); err != nil {
		return nil, wrap("fetch hash", err)
	}
	fields, err := hash.Result()
	if isWrongType(err) {
		return nil, &KeyError{Op: "fetch hash", Key: key, Err: ErrWrongType}
	}
	if err != nil {
		return nil, wrap("fetch hash", err)
	}
	if len(fields) == 0 { // HGETALL reads a missing key as an empty hash
		return nil, nil
	}
	return fields, nil
}

// tokenReads are the replies of the token reads queued in a pipeline: one
// MGET, or one GET per key.
type tokenReads struct {
	mget *redis.SliceCmd
	gets []*redis.StringCmd
}

// queueTokenReads queues reads of tokenKeys on pipe: one MGET on a single
// server, a GET per key on a sharded one, where an MGET across slots fails.
func (r *Redis) queueTokenReads(ctx context.Context, pipe redis.Pipeliner, tokenKeys []string) tokenReads {
	switch {
	case len(tokenKeys) == 0:
		return tokenReads{}
	case r.single:
		return tokenReads{mget: pipe.MGet(ctx, tokenKeys...)}
	}
	gets := make([]*redis.StringCmd, len(tokenKeys))
	for i, k := range tokenKeys {
		gets[i] = pipe.Get(ctx, k)
	}
	return tokenReads{gets: gets}
}

// decode writes into tokens the token each read found, 0 for a missing key or
// one holding another type (as MGET reads it; EnsureTokens replaces it).
func (tr tokenReads) decode(tokens []uint64) error {
	if tr.mget != nil {
		vals, err := tr.mget.Result()
		if err != nil {
			return err
		}
		if len(vals) != len(tokens) {
			return fmt.Errorf("MGET returned %d values for %d keys", len(vals), len(tokens))
		}
		for i, v := range vals {
			tokens[i] = 0
			if s, ok := v.(string); ok {
				tokens[i] = decodeToken(s)
			}
		}
		return nil
	}
	for i, cmd := range tr.gets {
		s, ok, err := stringResult(cmd)
		if isWrongType(err) {
			ok, err = false, nil
		}
		if err != nil {
			return err
		}
		tokens[i] = 0
		if ok {
			tokens[i] = decodeToken(s)
		}
	}
	return nil
}

// SetHashIf implements [Store.SetHashIf] with one pipeline: a script (by
// EVALSHA) that checks the guard and replaces the hash, then SADD and PEXPIRE
// of the index. When the server does not know the script (NOSCRIPT: after a
// restart, a failover or SCRIPT FLUSH), the script alone is sent again by
// EVAL in a second round trip. TTLs below the millisecond are rounded up to
// one.
func (r *Redis) SetHashIf(ctx context.Context, key string, fields []string, ttl time.Duration, guardKey string, guard uint64, index string, indexTTL time.Duration) (bool, error) {
	if err := checkSetHash(fields, ttl, index, indexTTL); err != nil {
		return false, wrap("set hash", err)
	}
	enc := encodeToken(guard)
	keys := []string{guardKey, key}
	args := make([]any, 0, 2+len(fields))
	args = append(args, string(enc[:]), max(ttl, time.Millisecond).Milliseconds())
	for _, f := range fields {
		args = append(args, f)
	}
	pipe := r.c.Pipeline()
	var script *redis.Cmd
	if guard != 0 { // 0 is no token, but the script would match "0000000000000000"
		script = setHashScript.EvalSha(ctx, pipe, keys, args...)
	}
	if index != "" {
		pipe.SAdd(ctx, index, key)
		pipe.PExpire(ctx, index, max(indexTTL, time.Millisecond))
	}
	if pipe.Len() == 0 {
		return false, nil
	}
	cmds, err := pipe.Exec(ctx)
	if script != nil && redis.HasErrorPrefix(script.Err(), "NOSCRIPT") {
		for _, cmd := range cmds[1:] { // the index commands, after the script
			if err := cmd.Err(); err != nil {
				return false, wrap("set hash", err)
			}
		}
		script, err = r.evalSetHash(ctx, keys, args)
	}
	if err != nil {
		return false, wrap("set hash", err)
	}
	if script == nil {
		return false, nil
	}
	return script.Val() == int64(1), nil
}

// evalSetHash runs setHashScript by EVAL, sending its source.
func (r *Redis) evalSetHash(ctx context.Context, keys []string, args []any) (*redis.Cmd, error) {
	pipe := r.c.Pipeline()
	cmd := setHashScript.Eval(ctx, pipe, keys, args...)
	_, err := pipe.Exec(ctx)
	return cmd, err
}

// FetchHash implements [Store.FetchHash] under one lock acquisition. The
// hash counts as used for the LRU order.
func (m *Memory) FetchHash(ctx context.Context, key string, tokenKeys []string, tokens []uint64) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap("fetch hash", err)
	}
	if len(tokens) != len(tokenKeys) {
		return nil, wrap("fetch hash", errTokenLen)
	}
	now := m.now()
	m.mu.Lock()
	var fields map[string]string
	if it := m.getLocked(key, now); it != nil {
		if it.fields == nil {
			m.mu.Unlock()
			return nil, &KeyError{Op: "fetch hash", Key: key, Err: ErrWrongType}
		}
		fields = it.fields
		m.touchLocked(it)
	} else if m.setTypedLocked(key, now) {
		m.mu.Unlock()
		return nil, &KeyError{Op: "fetch hash", Key: key, Err: ErrWrongType}
	}
	m.tokensLocked(tokenKeys, tokens, now)
	m.mu.Unlock()
	// Stored fields are never modified, so the copy can be made unlocked.
	return maps.Clone(fields), nil
}

// SetHashIf implements [Store.SetHashIf] under one lock acquisition, which
// Bump and EnsureTokens also take: the check and the replacement are atomic
// with respect to them. A hash whose key, names and values alone exceed
// MaxBytes is not kept (the key is cleared), yet SetHashIf reports that it
// stored, as if it had been evicted at once.
func (m *Memory) SetHashIf(ctx context.Context, key string, fields []string, ttl time.Duration, guardKey string, guard uint64, index string, indexTTL time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, wrap("set hash", err)
	}
	if err := checkSetHash(fields, ttl, index, indexTTL); err != nil {
		return false, wrap("set hash", err)
	}
	it := newHashItem(key, fields)
	enc := encodeToken(guard)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if index != "" && (m.getLocked(index, now) != nil || m.hotLocked(index, now) != nil) {
		return false, wrap("set hash", errWrongTypeIndex)
	}
	g := m.getLocked(guardKey, now)
	if g != nil && g.fields != nil {
		return false, wrap("set hash", errWrongTypeGuard)
	}
	// Compare the stored bytes, as the Redis script does: a foreign value
	// never equals a token's encoding, and guard 0 stands for no token.
	stored := guard != 0 && g != nil && bytes.Equal(g.value, enc[:])
	if stored {
		it.expires = now + ttl
		m.storeLocked(it, now)
	}
	if index != "" {
		m.addIndexLocked(index, key, indexTTL, now)
	}
	return stored, nil
}

// newHashItem returns an entry holding the hash of fields, a later value of
// a repeated name replacing the earlier one as HSET does.
func newHashItem(key string, fields []string) *item {
	it := &item{key: key, fields: make(map[string]string, len(fields)/2)}
	for i := 0; i < len(fields); i += 2 {
		if old, ok := it.fields[fields[i]]; ok {
			it.fieldBytes -= len(fields[i]) + len(old)
		}
		it.fields[fields[i]] = fields[i+1]
		it.fieldBytes += len(fields[i]) + len(fields[i+1])
	}
	return it
}
