// Package lockstore keeps a cache stampede down to one fill per key: an
// in-process single flight ([Group]) shares one load among the callers of one
// process, and fill leases ([Leases]) elect one filler among processes that
// share a store. Waiters poll a held lease with jittered exponential backoff
// ([Backoff], [Poll]) for a bounded time; [LeaseTTL] sizes a lease from the
// measured fill time.
//
// # Single flight
//
// [Group.Do] runs the load in the goroutine of the caller that starts the
// flight, the leader, and returns to it only once the load has returned; the
// other callers wait for its result. So the load may use what belongs to the
// leader alone, such as its database connection, which database/sql hands to
// someone else as soon as the leader returns. The load runs on a context of
// its own, with a timeout, that lives as long as some caller still waits:
// when the leader and every waiter have given up, it is cancelled and the
// next call starts a new flight.
//
// # Leases are for load, not for correctness
//
// A lease is an optimisation: it keeps N concurrent misses from costing N
// database executions. It is not what keeps the cache correct. Every fill is
// tagged with the generation tokens read before its query, and an entry whose
// tokens no longer match is never served, so a fill that runs without the
// lease, after its lease expired, or next to a second filler, is at worst
// wasted work. That is why a lease needs no fencing token and may be lost at
// any time: its holder never has to ask whether it still holds it before it
// writes, and a holder that crashes leaves a lease that simply expires.
//
// The usual order for a miss is: [Group.Do] (one load per process), inside it
// check the cache again, then [Leases.Acquire]; when another owner holds the
// lease, [Poll] until the cache is filled or the lease is gone, bounded by
// the rule's lock wait, and then serve stale or query the database anyway.
// Never wait unbounded for a lease. An Acquire that fails may still have taken
// the lease (its reply lost to a timeout): it returns the lease it tried, and
// the next attempt uses [Leases.Reacquire] with it, so that the caller does
// not wait on its own lease; a caller that gives up releases it.
//
// # Implementations
//
// [Redis] keeps a lease as a string set with SET NX PX whose value is a
// random owner token, and releases it with a compare-and-delete script. Each
// command touches one key, so it works on Redis Cluster. [Memory] keeps
// leases in a map with expiry by an injectable clock, for the embedded store
// and for tests.
//
// # Time
//
// [Memory]'s expiry, the Expires that [Redis] reports, and [Poll]'s waits
// and deadline follow a [Clock] (nil: the system clock). A test injects a
// fake one and moves it instead of sleeping; Redis itself still expires a
// lease by its own clock.
package lockstore
