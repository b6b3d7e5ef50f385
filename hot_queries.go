package cachedsql

import (
	"strings"

	"github.com/cachedsql/cachedsql/keying"
)

// The hot statements of a rule: beside the hot set of its entries ([keying.Layout.Hot]), each feed adds
// the same hits, summed by statement, to a sorted set of its statements ([keying.Layout.HotQueries]), so
// that a tool can say which statements the hot entries are of. A statement is named there as in the
// invalidation log, by its fingerprint and sqlc name, never by its text, which may hold values.

// hotQuery returns the member that names st in a hot statements set: its fingerprint, then its sqlc
// name after a space when it has one.
func hotQuery(st *keying.Statement) string {
	if st.Name == "" {
		return st.Fingerprint
	}
	return st.Fingerprint + " " + st.Name
}

// addHotQuery adds n hits of st to the hits of a rule's statements, made when m is nil.
func addHotQuery(m map[string]float64, st *keying.Statement, n int64) map[string]float64 {
	if m == nil {
		m = make(map[string]float64)
	}
	m[hotQuery(st)] += float64(n)
	return m
}

// parseHotQuery reads a member of a hot statements set.
func parseHotQuery(member string) (fingerprint, name string) {
	fingerprint, name, _ = strings.Cut(member, " ")
	return fingerprint, name
}
