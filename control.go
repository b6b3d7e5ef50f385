package cachedsql

import (
	"context"
	"time"
)

// control is what the per-call controls of a context (WithBypass, WithRefresh, WithTTL) ask of one call.
type control struct {
	bypass, refresh bool
	ttl             time.Duration
	// background marks the refresher's own reads: they never wait for another filler.
	background bool
	// writeThrough marks the reads of write-through: they take no lease.
	writeThrough bool
}

type controlKey struct{}

func controlFrom(ctx context.Context) control {
	c, _ := ctx.Value(controlKey{}).(control)
	return c
}

func withControl(ctx context.Context, f func(*control)) context.Context {
	c := controlFrom(ctx)
	f(&c)
	return context.WithValue(ctx, controlKey{}, c)
}

// WithBypass returns a context whose reads skip the cache: they neither look up nor fill it. Writes
// still invalidate.
func WithBypass(ctx context.Context) context.Context {
	return withControl(ctx, func(c *control) { c.bypass = true })
}

// WithRefresh returns a context whose cached reads skip the lookup, query the database and store the
// fresh result (a forced refresh).
func WithRefresh(ctx context.Context) context.Context {
	return withControl(ctx, func(c *control) { c.refresh = true })
}

// WithTTL returns a context whose cached reads store their results for ttl instead of the rule's TTL.
// A ttl ≤ 0 is ignored.
func WithTTL(ctx context.Context, ttl time.Duration) context.Context {
	return withControl(ctx, func(c *control) { c.ttl = ttl })
}
