package strategies

import (
	"context"
	"database/sql/driver"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/internal/codec"
	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/lockstore"
)

// Query runs a read on the database.
type Query = func(ctx context.Context) (driver.Rows, error)

// Clock is the time of ages, lease waits and loads (tests move it).
type Clock interface {
	Now() time.Time
}

// Policy is what a rule asks of the cache-aside read: how long an entry is fresh, when it may be served
// past that, how misses are coordinated, and what is worth storing.
type Policy struct {
	// TTL is how long an entry is fresh (a call may ask for another: Request.TTL).
	TTL time.Duration
	// Beta weighs XFetch's early recomputation; zero turns it off.
	Beta float64
	// StaleWhileRevalidate is how long past its TTL an entry is served while one background refresh
	// replaces it; StaleIfError how long it is served when the database fails, or a lease wait ends.
	StaleWhileRevalidate, StaleIfError time.Duration
	// NoLease: misses take no fill lease (single flight only). LockWait bounds the wait for another
	// process's fill; 0 does not wait.
	NoLease  bool
	LockWait time.Duration
	// MaxRows and MaxBytes cap what is stored (0: no cap); SkipEmpty stores no empty result.
	MaxRows, MaxBytes int
	SkipEmpty         bool
}

// storeTTL is how long the store keeps an entry fresh for ttl: ttl plus the longest stale window.
func (p *Policy) storeTTL(ttl time.Duration) time.Duration {
	return ttl + max(p.StaleWhileRevalidate, p.StaleIfError)
}

// ReadStore is what the cache-aside read needs of a store (internal/store's Redis and Memory; the
// store.Store contract says what each method promises).
type ReadStore interface {
	// An entry (a string, or a row's hash) and its generation tokens in one round trip.
	Fetch(ctx context.Context, key string, tokenKeys []string, tokens []uint64) ([]byte, error)
	FetchHash(ctx context.Context, key string, tokenKeys []string, tokens []uint64) (map[string]string, error)
	EnsureTokens(ctx context.Context, tokenKeys []string, tokens []uint64) error
	// Fills, and the deletion of a corrupt entry.
	SetIndexed(ctx context.Context, key string, value []byte, ttl time.Duration, index string, indexTTL time.Duration) error
	SetHashIf(ctx context.Context, key string, fields []string, ttl time.Duration, guardKey string, guard uint64, index string, indexTTL time.Duration) (bool, error)
	Delete(ctx context.Context, keys ...string) error
}

// Health is the state of the store as the cache has found it (the root keeps it in internal/health).
// Its methods do no I/O.
type Health interface {
	// Usable reports whether a read recording tokenKeys may use the store: the circuit breaker lets
	// it, and no invalidation of one of those tokens is known to be undelivered.
	Usable(tokenKeys []string) bool
	// Allow reports whether the circuit breaker lets a store call through now.
	Allow() bool
	// StoreOK records a store call that succeeded; StoreFailed one that failed (op names the call).
	StoreOK()
	StoreFailed(ctx context.Context, op string, err error)
}

// Bypass says why a read under a rule went to the database after all.
type Bypass uint8

const (
	// StoreUnavailable: the store may not be used for this read (Health.Usable), or the lookup failed.
	StoreUnavailable Bypass = iota + 1
	// NotShared: the read joined another caller's load, whose result could not be shared.
	NotShared
)

// StaleReason says under which stale window a copy past its TTL was served.
type StaleReason uint8

const (
	StaleRevalidate StaleReason = iota + 1 // stale_while_revalidate; a background refresh replaces it
	StaleIfError                           // the database failed, inside stale_if_error
	StaleLockWait                          // another process's fill was waited for in vain
)

// StampedeKind is a step of stampede control.
type StampedeKind uint8

const (
	LeaseAcquired     StampedeKind = iota // this process fills the entry
	LeaseContended                        // another process holds the fill lease
	LeaseWaited                           // the wait for another process's fill got it
	LeaseWaitTimedOut                     // the wait ended without it
	EarlyRecompute                        // XFetch picked this read to recompute the entry early
	Refreshed                             // a background refresh completed (reported by the refresher)
	LeaseWaitBegan                        // a wait for another process's fill began
	SharedLoad                            // the read was served the load of another caller in this process
)

// LoadEvent describes the database query of one load, once its result has been read.
type LoadEvent struct {
	// Background: the load was a background refresh's or write-through's. NotStored: the store could
	// not be used, so the result was shared with the flight's callers only.
	Background, NotStored bool
	Duration              time.Duration
	Rows, Bytes           int
	Err                   error
}

// Events hears what the strategies do with the reads of one statement, for counters and observers.
// Its methods run on the read's goroutine and must be quick.
type Events interface {
	Hit(ctx context.Context, start time.Time)
	Miss(ctx context.Context)
	Bypass(ctx context.Context, why Bypass)
	Stale(ctx context.Context, why StaleReason)
	Stampede(ctx context.Context, kind StampedeKind, wait time.Duration)
	Loaded(ctx context.Context, ev LoadEvent)
	Filled(ctx context.Context, bytes int)
	FillSkipped(ctx context.Context, why string)
	Corrupt(ctx context.Context, key string, err error)
}

// Subject is the statement a read runs, as its caller knows it: it hears the read's events, and does
// what only the caller can.
type Subject interface {
	Events
	// QueryAlone runs the read on the database without the cache, after a shared load could not serve
	// it (counted as a bypass for NotShared).
	QueryAlone(ctx context.Context, q Query) (driver.Rows, error)
	// Index returns the set that a fill stored for ttl adds its key to, and the set's TTL.
	Index(ttl time.Duration) (string, time.Duration)
	// Register makes sure that the key column set of a row entry is in the store's registry, before
	// it is filled; again: the registry may have been flushed since it was last added.
	Register(ctx context.Context, again bool) bool
	// Revalidate refreshes the entry at key in the background (best effort).
	Revalidate(key string, args []driver.NamedValue)
	// Touch counts a hit of the entry at key, which expires at expires and took delta to compute, for
	// refresh-ahead and write-through.
	Touch(key string, expires time.Time, delta time.Duration, args []driver.NamedValue)
}

// Request is one read under a rule.
type Request struct {
	Policy  *Policy
	Subject Subject
	// Key is the entry's key. TokenKeys name the generation tokens it records (the epoch first);
	// Tokens holds their values, read before the query (zeros: not read yet).
	Key       string
	TokenKeys []string
	Tokens    []uint64
	// Guard is set for a row entry: the key of the row's token (the last of TokenKeys). The entry is
	// stored only while that token still has the value read before the query, so that of two fills of
	// one row the one made after the later write wins.
	Guard string
	// TTL is the entry's TTL (Policy.TTL, unless the call asked for another).
	TTL time.Duration
	// Args are the read's arguments, for background refreshes.
	Args []driver.NamedValue
	// Delta holds the last measured query time of a fill of this statement (ns), which sizes leases.
	Delta *atomic.Int64
	// Start is when the read began.
	Start time.Time
	// Force skips the lookup (a forced refresh); Background marks the refresher's own reads, which
	// never wait for another filler; NoLease marks write-through's reads, which take no lease.
	Force, Background, NoLease bool

	// stale is a valid copy past its TTL, for the rule's stale windows; current is the fresh copy an
	// early recompute replaces (served if another process is recomputing it).
	stale, current *found
	// noStore: the store is not to be called (the breaker is open, or an invalidation of these tables
	// is pending): the load queries and shares the rows without storing them.
	noStore bool
	// unknown: the caller's lookup failed, so Tokens holds nothing read from the store; the load looks
	// the entry up again, inside the flight, before it fills.
	unknown bool
}

// TestHooks let tests force interleavings; nil (false) in production.
type TestHooks struct {
	// AfterTokens runs once a lookup has returned; BeforeQuery before a load's query; BeforeFill
	// before a load stores its result.
	AfterTokens, BeforeQuery, BeforeFill func()
	// SkipTokenCheck serves entries without comparing generation tokens: it shows that the freshness
	// tests catch a stale read.
	SkipTokenCheck bool
}

// CacheAside reads through the cache: look up, serve a fresh entry, otherwise load it from the database
// under stampede control and store it (DESIGN.md, "Read path"). Set its fields before the first Read;
// it is then safe for concurrent use.
type CacheAside struct {
	Store  ReadStore
	Health Health
	// Leases elects one filler among processes; Flight shares one load among the callers of one
	// process; Backoff paces a lease waiter's polls.
	Leases  lockstore.Leases
	Flight  lockstore.Group
	Backoff lockstore.Backoff
	// LeaseKey names the fill lease of the entry at key.
	LeaseKey func(key string) string
	// Clock times ages, lease waits and loads; Rand draws XFetch's uniform numbers in [0, 1).
	Clock Clock
	Rand  func() float64
	// StoreTimeout bounds one store round trip (0: none, for an in-process store). FillTimeout bounds a
	// shared load whose callers have all gone.
	StoreTimeout, FillTimeout time.Duration
	Log                       *slog.Logger
	Hooks                     TestHooks
}

// Read is the cache-aside path of a read (DESIGN.md, "Read path"):
//  1. one round trip fetches the entry and the current generation token of every table it reads;
//  2. a hit is an entry whose recorded tokens all equal the current ones, and that is fresh;
//  3. on a miss the tokens read before the query are recorded in the new entry, so a fill that raced
//     a write is tagged with old tokens and can never be served; the load runs under stampede control
//     (Load).
//
// q runs the read on the database. req is not kept (the miss path copies it).
func (c *CacheAside) Read(ctx context.Context, req *Request, q Query) (driver.Rows, error) {
	if !c.Health.Usable(req.TokenKeys) || req.Guard != "" && !req.Subject.Register(ctx, false) {
		return c.storeFailedRead(ctx, req, q, nil)
	}
	tp := tokenPool.Get().(*[]uint64)
	if cap(*tp) < len(req.TokenKeys) {
		*tp = make([]uint64, len(req.TokenKeys))
	}
	req.Tokens = (*tp)[:len(req.TokenKeys)]
	clear(req.Tokens)
	if !req.Force {
		ent, b, err := c.lookup(ctx, req)
		hook(c.Hooks.AfterTokens)
		if err != nil {
			return c.storeFailedRead(ctx, req, q, err)
		}
		if ent != nil {
			switch c.ageOf(req.Policy, ent) {
			case Fresh:
				tokenPool.Put(tp) // a hit does not keep its tokens; a miss records them in the entry
				req.Subject.Hit(ctx, req.Start)
				req.Subject.Touch(req.Key, ent.Expires, ent.Delta, req.Args)
				return newCachedRows(ent), nil
			case Early:
				req.Subject.Stampede(ctx, EarlyRecompute, 0)
				req.current = &found{ent: ent, b: b, at: req.Start}
			case Revalidate:
				tokenPool.Put(tp)
				req.Subject.Revalidate(req.Key, req.Args)
				return c.serveStale(ctx, req, ent, StaleRevalidate), nil
			case Stale:
				req.stale = &found{ent: ent, b: b, at: req.Start}
			}
		}
	}
	if !c.ensureTokens(ctx, req) {
		return c.storeFailedRead(ctx, req, q, errTokens)
	}
	if req.current == nil && !req.Background { // early recomputes and refreshes are counted on their own
		req.Subject.Miss(ctx)
	}
	miss := *req
	return c.loadShared(ctx, &miss, q)
}

// tokenPool recycles the token buffers of hits.
var tokenPool = sync.Pool{New: func() any { s := make([]uint64, 0, 8); return &s }}

// Refill loads req's entry from the database with q and stores it, on its own: it neither joins a load
// in flight (which began before the write it completes) nor takes a lease, since it must read what the
// write left whatever another filler is doing (write-through). req.Tokens holds the tokens read after the
// write, or zeros to read them now. It reports whether it stored the entry.
func (c *CacheAside) Refill(ctx context.Context, req *Request, q Query) (bool, error) {
	// Registering before the query is what lets writers elsewhere find this row's key.
	if !c.Health.Usable(req.TokenKeys) || req.Guard != "" && !req.Subject.Register(ctx, false) {
		return false, nil
	}
	if !allSet(req.Tokens) {
		sctx, cancel := c.storeCtx(ctx)
		err := c.Store.EnsureTokens(sctx, req.TokenKeys, req.Tokens)
		cancel()
		if err != nil {
			c.Health.StoreFailed(ctx, "ensure tokens", err)
			return false, nil
		}
	}
	res, err := c.load(ctx, req, q)
	if res != nil && res.rows != nil {
		res.rows.Close()
	}
	if errors.Is(err, errNotShared) {
		err = nil
	}
	return err == nil && res != nil && res.stored, err
}

// lookup fetches the entry and the tokens in one round trip. It returns the entry, decoded and as
// stored (nil for a row entry), when it is valid: decodable, and recorded with the current generation
// tokens (whatever its age).
func (c *CacheAside) lookup(ctx context.Context, req *Request) (*codec.Entry, []byte, error) {
	sctx, cancel := c.storeCtx(ctx)
	ent, b, err := c.fetch(sctx, req, req.Tokens)
	cancel()
	if err != nil && !errors.Is(err, errCorruptEntry) {
		return nil, nil, err
	}
	c.Health.StoreOK()
	if err != nil {
		c.corrupt(ctx, req, err)
		return nil, nil, nil
	}
	if ent == nil {
		return nil, nil, nil
	}
	if !c.Hooks.SkipTokenCheck && (!allSet(req.Tokens) || !equalTokens(ent.Tokens, req.Tokens)) {
		return nil, nil, nil // written since it was filled: a miss
	}
	return ent, b, nil
}

// errCorruptEntry marks a fetched entry that does not decode; the error it wraps says why.
var errCorruptEntry = errors.New("cachedsql: entry does not decode")

// fetch reads the entry of req and the current values of req.TokenKeys into tokens, in one round
// trip, and decodes the entry (nil when missing). Decoding before the token check costs a wasted decode
// only on an entry a write has made stale. A value that does not decode is reported as errCorruptEntry
// joined with the decoding error.
func (c *CacheAside) fetch(ctx context.Context, req *Request, tokens []uint64) (*codec.Entry, []byte, error) {
	if req.Guard != "" {
		fields, err := c.Store.FetchHash(ctx, req.Key, req.TokenKeys, tokens)
		if err != nil || fields == nil {
			return nil, nil, keyProblem(err)
		}
		ent, err := codec.DecodeRow(fields)
		if err == nil {
			err = ent.CheckKey(req.Key)
		}
		if err != nil {
			return nil, nil, errors.Join(errCorruptEntry, err)
		}
		return ent, nil, nil
	}
	b, err := c.Store.Fetch(ctx, req.Key, req.TokenKeys, tokens)
	if err != nil || b == nil {
		return nil, nil, keyProblem(err)
	}
	ent, err := codec.Decode(b)
	if err == nil {
		err = ent.CheckKey(req.Key) // a valid entry copied from another key is corrupt here
	}
	if err != nil {
		return nil, nil, errors.Join(errCorruptEntry, err)
	}
	return ent, b, nil
}

// keyProblem returns err, marked as a corrupt entry when it is a problem of the entry's key alone (another
// type, an oversized value) rather than a failure of the store: such a key must not open the breaker.
func keyProblem(err error) error {
	var ke *store.KeyError
	if errors.As(err, &ke) {
		return errors.Join(errCorruptEntry, err)
	}
	return err
}

// corrupt turns an entry that cannot be decoded into a miss, and deletes it unless it was merely written
// by another version of this package or is over this process's size bound (then the fill overwrites it).
func (c *CacheAside) corrupt(ctx context.Context, req *Request, err error) {
	if errors.Is(err, codec.ErrUnknownType) {
		return
	}
	req.Subject.Corrupt(ctx, req.Key, err)
	if errors.Is(err, store.ErrTooLarge) {
		// Perhaps another process's entry under a larger max_bytes: left alone (our fill replaces it).
		c.Log.WarnContext(ctx, "cachedsql: cache entry over max_bytes skipped", "key", req.Key, "err", err)
		return
	}
	c.Log.WarnContext(ctx, "cachedsql: corrupt cache entry deleted", "key", req.Key, "err", err)
	sctx, cancel := c.storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	if err := c.Store.Delete(sctx, req.Key); err != nil {
		c.Health.StoreFailed(ctx, "delete", err)
	}
}

// errTokens reports that the tokens a fill records could not be read or created; the failure itself
// has been recorded.
var errTokens = errors.New("cachedsql: reading generation tokens failed")

// storeFailedRead sends a read whose lookup failed (err), or that may not use the store now (nil err:
// the breaker is open, or an invalidation of its tables is pending), to the database. It still goes
// through single flight, keyed by its entry: concurrent identical reads share one query, and, after a
// failed lookup, one more lookup inside the flight, which may find the entry or read the tokens to fill
// it with (one slow round trip is not an outage).
func (c *CacheAside) storeFailedRead(ctx context.Context, req *Request, q Query, err error) (driver.Rows, error) {
	if err != nil && !errors.Is(err, errTokens) && ctx.Err() == nil {
		c.Health.StoreFailed(ctx, "fetch", err)
	}
	req.Subject.Bypass(ctx, StoreUnavailable)
	if req.Background || req.NoLease {
		// A background refresh, or a write-through's fill: neither has callers to share with.
		return q(ctx)
	}
	miss := *req
	miss.noStore, miss.unknown = err == nil, err != nil
	miss.current, miss.stale = nil, nil
	return c.loadShared(ctx, &miss, q)
}

// ageOf classifies a valid entry at now under p (Freshness).
func (c *CacheAside) ageOf(p *Policy, ent *codec.Entry) Age {
	f := Freshness{Beta: p.Beta, StaleWhileRevalidate: p.StaleWhileRevalidate}
	return f.Age(c.Clock.Now(), ent.Expires, ent.Delta, c.Rand)
}

// serveStale serves a copy past its TTL under the rule's stale window why.
func (c *CacheAside) serveStale(ctx context.Context, req *Request, ent *codec.Entry, why StaleReason) driver.Rows {
	req.Subject.Stale(ctx, why)
	return newCachedRows(ent)
}

// storeCtx bounds one store round trip. The in-process store never waits on I/O, so it gets no timer.
func (c *CacheAside) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.StoreTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.StoreTimeout)
}

func allSet(tokens []uint64) bool {
	for _, t := range tokens {
		if t == 0 {
			return false
		}
	}
	return true
}

func equalTokens(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fill encodes a complete result and stores it for its TTL plus the rule's stale windows. It returns
// the encoding and whether it stored it; the encoding is nil when the result cannot be reproduced
// exactly or is over max_bytes (it is then neither stored nor shared).
func (c *CacheAside) fill(ctx context.Context, req *Request, ent *codec.Entry) ([]byte, bool) {
	ev, p := req.Subject, req.Policy
	ent.Key = codec.KeyTag(req.Key)
	b, err := codec.Encode(nil, ent)
	if err != nil {
		ev.FillSkipped(ctx, "value not encodable")
		return nil, false
	}
	if p.MaxBytes > 0 && len(b) > p.MaxBytes {
		ev.FillSkipped(ctx, "result over max_bytes")
		return nil, false
	}
	if req.noStore || !allSet(req.Tokens) {
		return b, false // shared with the flight's callers only: nothing recorded to check it against
	}
	if len(ent.Rows) == 0 && p.SkipEmpty {
		ev.FillSkipped(ctx, "empty result")
		return b, false
	}
	var fields []string
	if req.Guard != "" {
		if len(ent.Rows) != 1 {
			ev.FillSkipped(ctx, "key matched several rows")
			return b, false
		}
		if fields, err = codec.EncodeRow(ent); err != nil {
			ev.FillSkipped(ctx, "value not encodable")
			return b, false
		}
	}
	// The fill outlives a caller that has gone away: the rows were read in full, storing them is cheap.
	sctx, cancel := c.storeCtx(context.WithoutCancel(ctx))
	sttl := p.storeTTL(req.TTL)
	index, indexTTL := req.Subject.Index(sttl)
	stored, n := true, len(b)
	if req.Guard == "" {
		err = c.Store.SetIndexed(sctx, req.Key, b, sttl, index, indexTTL)
	} else {
		stored, n, err = c.storeRow(sctx, req, fields, sttl, index, indexTTL)
	}
	cancel()
	if err != nil {
		c.Health.StoreFailed(ctx, "set", err)
		return b, false
	}
	c.Health.StoreOK()
	if !stored {
		// The row was written (and its token replaced) since this fill read its tokens: the writer's
		// own fill, or the next read, stores the newer image.
		ev.FillSkipped(ctx, "row written meanwhile")
		return b, false
	}
	ev.Filled(ctx, n)
	return b, true
}

// storeRow stores a row entry as a hash, if the row's token still has the value read before the query.
// It returns whether it stored and how many bytes.
func (c *CacheAside) storeRow(ctx context.Context, req *Request, fields []string, ttl time.Duration, index string, indexTTL time.Duration) (bool, int, error) {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	guard := req.Tokens[len(req.Tokens)-1]
	stored, err := c.Store.SetHashIf(ctx, req.Key, fields, ttl, req.Guard, guard, index, indexTTL)
	return stored, n, err
}

// hook runs a test hook, if set.
func hook(f func()) {
	if f != nil {
		f()
	}
}

// staleUsable reports whether f, a valid copy past its TTL, is still inside a stale window of length
// window (0: no window).
func (c *CacheAside) staleUsable(f *found, window time.Duration) bool {
	return f != nil && window > 0 && c.Clock.Now().Before(f.ent.Expires.Add(window))
}
