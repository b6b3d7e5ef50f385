// Package store holds the key-value stores behind the cache: [Redis], over
// any go-redis client, and [Memory], the in-process default. Both keep the
// same contract, checked by the storetest suite.
//
// # Values and tokens
//
// A cached entry is an opaque byte string stored with a TTL. A generation
// token is a random non-zero uint64 stored without a TTL at its own key, one
// per table plus one for the namespace epoch. Tokens are written as 16
// lower-case hex digits.
//
// A token key may hold something this package did not write (a foreign or
// garbled value). Such a value is read as a token derived from its bytes: a
// hash with the top bit set, so never 0 and the same for every reader. It is
// not overwritten: readers agree on it without a write race, and an entry
// recorded under it stays valid exactly until [Store.Bump] replaces it.
//
// # Errors
//
// A missing key is not an error. A problem of one key rather than of the
// store (a key holding another type than the operation reads, a value over
// the store's value bound) is a [*KeyError]: the caller should treat the key
// as a corrupt entry, not the store as failing. Every other error is wrapped
// with %w under the operation name, such as "store: fetch: …".
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Store is the contract that [Redis] and [Memory] both keep, which the
// storetest suite checks. Its users declare the subsets they call (the
// engine's cacheStore, the watch's watcher). Implementations are safe for
// concurrent use.
type Store interface {
	// Fetch returns the value at key (nil, no error, when missing) and writes
	// into tokens[i] the current value of tokenKeys[i] (0 when missing), in
	// one round trip. len(tokens) must equal len(tokenKeys). The returned
	// slice belongs to the caller; a present empty value reads as missing.
	// A key holding something other than a value, or a value over the store's
	// value bound (whose bytes are not transferred in full), is a *KeyError
	// wrapping ErrWrongType or ErrTooLarge; tokens are then not written.
	Fetch(ctx context.Context, key string, tokenKeys []string, tokens []uint64) ([]byte, error)
	// EnsureTokens writes into tokens the current value of each token key,
	// first creating each missing one with a fresh random non-zero value.
	// Concurrent callers agree on one value per key.
	EnsureTokens(ctx context.Context, tokenKeys []string, tokens []uint64) error
	// Bump replaces each token key with a fresh random non-zero value, in one
	// round trip.
	Bump(ctx context.Context, tokenKeys []string) error
	// BumpAndLog does what Bump does and, in the same round trip, pushes
	// entry onto the front of the list at logKey and trims the list to its
	// newest [LogCap] entries. With no token keys it does nothing.
	BumpAndLog(ctx context.Context, tokenKeys []string, logKey string, entry LogEntry) error
	// RecentLog returns up to n entries of the list at key, newest first;
	// none when the key is missing or n <= 0.
	RecentLog(ctx context.Context, key string, n int) ([]LogEntry, error)
	// Set stores value at key with the TTL, which must be positive.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetIndexed does what Set does and, in the same round trip, adds key to
	// the set at index and sets the set's TTL to indexTTL. Both TTLs must be
	// positive. The set lets tools find the keys filled under one name (a
	// rule) without listing the whole store.
	SetIndexed(ctx context.Context, key string, value []byte, ttl time.Duration, index string, indexTTL time.Duration) error
	// IndexMembers returns the members of the set at index that SetIndexed
	// writes, in no particular order; none when the key is missing.
	IndexMembers(ctx context.Context, index string) ([]string, error)
	// FetchHash is Fetch for a value stored as a hash (see SetHashIf): it
	// returns every field of the hash at key (nil, no error, when missing)
	// and writes the current tokens into tokens as Fetch does, in one round
	// trip. The map belongs to the caller. A key holding something other
	// than a hash is a *KeyError wrapping ErrWrongType.
	FetchHash(ctx context.Context, key string, tokenKeys []string, tokens []uint64) (map[string]string, error)
	// SetHashIf replaces whatever is at key with a hash of exactly fields
	// (name, value, name, value, …; a repeated name keeps its last value)
	// and sets its TTL, atomically and only if guardKey holds the token
	// guard as Bump and EnsureTokens write it: a missing key, a foreign
	// value and a guard of 0 match nothing. It reports whether it stored.
	// When index is not "", it also adds key to the set at index and sets
	// the set's TTL to indexTTL, as SetIndexed does, in the same round trip
	// and whether or not it stored. On Redis, key and guardKey must be in
	// one Cluster slot (give them one hash tag). ttl must be positive, and
	// so must indexTTL when index is not ""; fields must hold at least one
	// pair.
	SetHashIf(ctx context.Context, key string, fields []string, ttl time.Duration, guardKey string, guard uint64, index string, indexTTL time.Duration) (bool, error)
	// BumpAndRead does what BumpAndLog does and, in the same round trip,
	// reads what read names after the bumps: the members of sets and the
	// values of tokens (see BumpRead and BumpResult). With no token keys it
	// bumps and logs nothing but still reads; with nothing at all it does
	// nothing.
	//
	// NOTE: on a Redis Cluster the round trip is split by node, and a read
	// follows the bumps of the keys on its own node only: a token read after
	// its own bump sees it, but a set is ordered after a bump only if it
	// shares the token key's hash tag.
	BumpAndRead(ctx context.Context, tokenKeys []string, logKey string, entry LogEntry, read BumpRead) (BumpResult, error)
	// AddMembers adds members to the set at key. It sets no TTL: a set that
	// only AddMembers wrote never expires. With no members it does nothing.
	AddMembers(ctx context.Context, key string, members ...string) error
	// Delete removes keys; missing keys are fine.
	Delete(ctx context.Context, keys ...string) error
	// Scan calls fn for every key with the prefix until fn returns false.
	// It is meant for tools and test cleanup, not for the hot path.
	Scan(ctx context.Context, prefix string, fn func(key string) bool) error
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// AddHot updates the hot-key scores kept in a sorted set at key, in one
	// round trip of single-key commands: every score is first multiplied by
	// decay (which must be in [0, 1]), then each member's score is
	// incremented by its hits, members scoring below 1 are dropped, and the
	// key's TTL, which must be positive, is set to ttl.
	AddHot(ctx context.Context, key string, hits map[string]float64, decay float64, ttl time.Duration) error
	// TopHot returns up to n members of the hot set at key, highest score
	// first (ties in reverse member order); none when the key is missing or
	// n <= 0.
	TopHot(ctx context.Context, key string, n int) ([]HotMember, error)
}

// BumpRead names what [Store.BumpAndRead] reads after its bumps.
type BumpRead struct {
	// Sets are sets whose members are read.
	Sets []string
	// Tokens are token keys whose values are read (replaced ones included).
	Tokens []string
	// Counter, when not "", is a counter incremented after the bumps (INCR): the write generation of
	// a database, which only grows unless the store loses writes (a restore, a failover to a replica
	// that had not received them).
	Counter string
}

// BumpResult is what [Store.BumpAndRead] read.
type BumpResult struct {
	// Members[i] lists the members of BumpRead.Sets[i] in no particular
	// order (nil when the set is missing).
	Members [][]string
	// Tokens[i] is the value of BumpRead.Tokens[i] (0 when missing).
	Tokens []uint64
	// Counter is the value of BumpRead.Counter after its increment.
	Counter uint64
}

// HotMember is one member of a hot set and its score (see [Store.AddHot]).
type HotMember struct {
	Member string
	Score  float64
}

// DefaultMaxValueBytes is the default bound on a value that [Store.Fetch]
// returns: 512 MiB, the largest string Redis holds.
const DefaultMaxValueBytes = 512 << 20

var (
	// ErrWrongType reports a key that holds another type than the operation
	// reads (a list, a set or a hash where a value is read, say).
	ErrWrongType = errors.New("key holds another type")
	// ErrTooLarge reports a value over the store's value bound.
	ErrTooLarge = errors.New("value over the size bound")
)

// KeyError reports a problem of one key, not of the store: the key holds
// another type than Op reads, or a value over the bound (Err is
// [ErrWrongType] or [ErrTooLarge]). Other keys are unaffected; deleting the
// key clears the problem.
type KeyError struct {
	Op, Key string
	Err     error
}

func (e *KeyError) Error() string { return "store: " + e.Op + ": key " + e.Key + ": " + e.Err.Error() }

func (e *KeyError) Unwrap() error { return e.Err }

// tokenLen is the length of an encoded token: 16 hex digits.
const tokenLen = 16

const hexDigits = "0123456789abcdef"

var (
	errTokenLen = errors.New("len(tokens) != len(tokenKeys)")
	errBadTTL   = errors.New("ttl must be positive")
	errBadDecay = errors.New("decay must be in [0, 1]")
)

// checkHot validates the arguments of [Store.AddHot].
func checkHot(decay float64, ttl time.Duration) error {
	switch {
	case ttl <= 0:
		return errBadTTL
	case !(decay >= 0 && decay <= 1): // also rejects NaN
		return errBadDecay
	}
	return nil
}

// wrap names the failed operation in err.
func wrap(op string, err error) error {
	return fmt.Errorf("store: %s: %w", op, err)
}

// newToken returns a fresh random non-zero token. It is random rather than a
// counter so that a value never repeats after the store is flushed or fails
// over.
func newToken() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// encodeToken writes v as 16 lower-case hex digits.
func encodeToken(v uint64) [tokenLen]byte {
	var b [tokenLen]byte
	for i := tokenLen - 1; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return b
}

// decodeToken reads the token value of a present key. A value that is not 16 lower-case hex digits of a non-zero number is
// foreign: it decodes to a hash of its bytes with the top bit set, so that
// it is never 0 and every reader sees the same token.
func decodeToken[S string | []byte](s S) uint64 {
	if v, ok := parseToken(s); ok {
		return v
	}
	return foreignToken(s)
}

func parseToken[S string | []byte](s S) (uint64, bool) {
	if len(s) != tokenLen {
		return 0, false
	}
	var v uint64
	for i := range len(s) {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, v != 0
}

// foreignToken hashes s with 64-bit FNV-1a and sets the top bit.
func foreignToken[S string | []byte](s S) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= prime
	}
	return h | 1<<63
}
