package cachedsql

import (
	"strconv"
	"time"
)

// ruleIndex returns the set that a fill under rule r, stored for ttl, adds its entry key to, and
// the TTL to give that set. Sets are per rule and per time bucket, "<ns>:k:<rule>:<bucket>" where
// bucket is the Unix time divided by the bucket width (ttl in whole seconds, at least one): each set
// holds only the keys filled in its window and outlives its last entry, then expires by itself, so
// `cachedsql flush -rule` can find a rule's live entries without the sets growing without bound.
func (e *engine) ruleIndex(r *Rule, ttl time.Duration) (string, time.Duration) {
	width := max(1, int64(ttl/time.Second))
	bucket := e.now().Unix() / width
	key := e.entries.Prefix() + "k:" + r.Name + ":" + strconv.FormatInt(bucket, 10)
	return key, 2*time.Duration(width)*time.Second + ttl
}
