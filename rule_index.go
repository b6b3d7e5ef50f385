package cachedsql

import (
	"time"
)

// ruleIndex returns the set that a fill under rule r, stored for ttl, adds its entry key to, and
// the TTL to give that set. Sets are per database, rule and time bucket ([keying.Layout.RuleIndex]),
// where bucket is the Unix time divided by the bucket width (ttl in whole seconds, at least one): each
// set holds only the keys filled in its window and outlives its last entry, then expires by itself, so
// [Admin.FlushRule] can find a rule's live entries without the sets growing without bound.
func (e *engine) ruleIndex(r *Rule, ttl time.Duration) (string, time.Duration) {
	width := max(1, int64(ttl/time.Second))
	bucket := e.now().Unix() / width
	return e.layout.RuleIndex(r.Name, bucket), 2*time.Duration(width)*time.Second + ttl
}
