package cachedsql

// SkipTokenCheck makes o serve cached entries without checking generation tokens, so that a test can
// show what a stale read looks like.
func SkipTokenCheck(o *Options) { o.testSkipTokenCheck = true }
