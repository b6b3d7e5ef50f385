package cachedsql

import "time"

// SkipTokenCheck makes o serve cached entries without checking generation tokens, so that a test can
// show what a stale read looks like.
func SkipTokenCheck(o *Options) { o.testSkipTokenCheck = true }

func init() {
	// Tests count hits exactly on a machine that also runs other test binaries: a 20ms store bound
	// would turn that load into bypasses. Tests of the bounds themselves set Options explicitly.
	defaultStoreTimeout = 2 * time.Second
	defaultInvalidateTimeout = 2 * time.Second
}
