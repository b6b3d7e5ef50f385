package lockstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Leases grants at most one holder per key at a time: across processes
// ([Redis]) or within one ([Memory]). Implementations are safe for
// concurrent use.
//
// A lease is advisory and may end before its holder is done (it expires, or
// the store loses it); see the package documentation for why that is safe.
type Leases interface {
	// Acquire tries once, without waiting, to take the lease on key for
	// ttl. ok is false, with a nil error, when another owner holds it. ttl
	// must be at least a millisecond. When err is not nil, l is the lease
	// Acquire tried to take, or the zero Lease if it sent nothing: a command
	// whose reply was lost (a timeout) may still have taken it, and only
	// [Leases.Reacquire] or [Leases.Release] of l can tell or undo that.
	Acquire(ctx context.Context, key string, ttl time.Duration) (l Lease, ok bool, err error)

	// Reacquire tries once to take l again, for ttl from now: it succeeds
	// when l's key is free, or still holds l's token (an earlier Acquire or
	// Reacquire of l did take it though its caller saw an error), and then
	// returns l with its new expiry. ok is false, with a nil error, when
	// another owner holds the lease. The zero Lease is never taken.
	Reacquire(ctx context.Context, l Lease, ttl time.Duration) (lease Lease, ok bool, err error)

	// Release gives l back if it is still ours (compare-and-delete).
	// released is false when it had expired or been taken by another owner
	// meanwhile; Release never deletes another owner's lease. The zero
	// Lease is never held.
	Release(ctx context.Context, l Lease) (released bool, err error)
}

// Lease is a lease taken by [Leases.Acquire]. It is a plain value: copy it,
// keep it, and pass it to [Leases.Release].
type Lease struct {
	// Key is the key the lease is on.
	Key string
	// Token identifies the owner: 128 random bits, hex-encoded.
	Token string
	// Expires is when the lease ends at the latest if not released. For
	// [Redis] it is measured from before the SET was sent, so the store's
	// own expiry is never earlier.
	Expires time.Time
}

// errTTL is returned by Acquire for a ttl below the millisecond resolution of
// Redis PX.
var errTTL = errors.New("lockstore: lease ttl must be at least 1ms")

// checkTTL returns an error for a ttl that cannot be expressed as PX.
func checkTTL(ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("%w, got %v", errTTL, ttl)
	}
	return nil
}

// newToken returns a random 128-bit owner token in hex.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b[:])
}
