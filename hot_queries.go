package cachedsql

import (
	"strings"

	"github.com/cachedsql/cachedsql/keying"
)

// The hot statements of a rule: beside the hot set of its entries ([keying.Layout.Hot]), each feed adds
// the same hits, summed by statement, to a sorted set of its statements ([keying.Layout.HotQueries]), so
// that a tool can say which statements the hot entries are of. A statement is named there as in the
// invalidation log: by its fingerprint and sqlc name, and its text with every literal written as "?"
// (logText), never a value.

// hotQuery returns the member that names st in a hot statements set: its fingerprint, then its sqlc
// name after a space when it has one, then a tab and its literal-free text.
func hotQuery(st *keying.Statement) string {
	m := st.Fingerprint
	if st.Name != "" {
		m += " " + st.Name
	}
	return m + "\t" + logText(st.Query)
}

// parseHotQuery reads a member of a hot statements set (one written before members held a text has
// none).
func parseHotQuery(member string) (fingerprint, name, text string) {
	member, text, _ = strings.Cut(member, "\t")
	fingerprint, name, _ = strings.Cut(member, " ")
	return fingerprint, name, text
}
