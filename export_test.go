package cachedsql

import "github.com/cachedsql/cachedsql/internal/clock"

// SkipTokenCheck makes o serve cached entries without checking generation tokens, so that a test can
// show what a stale read looks like.
func SkipTokenCheck(o *Options) { o.testSkipTokenCheck = true }

// Hooks sets o's interleaving hooks: after the entry and tokens are read, before the database query of
// a shared load, and before its result is stored. Nil leaves a hook unset.
func Hooks(o *Options, afterTokens, beforeQuery, beforeFill func()) {
	o.test.afterTokens, o.test.beforeQuery, o.test.beforeFill = afterTokens, beforeQuery, beforeFill
}

// InjectClock makes o's cache run on c (its time, its timers) and draw XFetch's random numbers from rnd
// (nil keeps the real one).
func InjectClock(o *Options, c clock.Clock, rnd func() float64) {
	o.test.clock, o.test.rand = c, rnd
}

// NoDedup makes every miss of o's cache run its own load, as if single flight were off.
func NoDedup(o *Options) { o.test.noDedup = true }
