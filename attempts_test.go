package cachedsql_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// onLoadedHost runs body, a test that counts hits and misses, under testenv.Attempts: an attempt that
// fails while a handle it watched saw a store error or a read with the catalog not loaded is run
// again. Both are the defaults' time bounds (StoreTimeout 50ms, the catalog's 1s) deciding on a
// loaded host: the read was served correctly from the database, but not counted as the test expects.
func onLoadedHost(t *testing.T, body func(t *testenv.Attempt, watch func(db *sql.DB))) {
	t.Helper()
	testenv.Attempts(t, 3, func(a *testenv.Attempt) {
		var dbs []*sql.DB
		a.Inconclusive(func() string { return slowHost(dbs) })
		body(a, func(db *sql.DB) { dbs = append(dbs, db) })
	})
}

// slowHost says what the handles saw that a loaded host explains, or "".
func slowHost(dbs []*sql.DB) string {
	var storeErrors, catalog uint64
	for _, db := range dbs {
		if st, ok := cachedsql.StatsOf(db); ok {
			storeErrors += st.StoreErrors
			catalog += st.Bypasses[cachedsql.BypassCatalogUnknown]
		}
	}
	var why []string
	if storeErrors > 0 {
		why = append(why, fmt.Sprintf("%d store errors", storeErrors))
	}
	if catalog > 0 {
		why = append(why, fmt.Sprintf("%d reads with the catalog not loaded", catalog))
	}
	return strings.Join(why, ", ")
}
