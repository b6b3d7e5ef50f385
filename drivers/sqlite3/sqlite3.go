// Package sqlite3 registers the database/sql driver "sqlite3+cachedsql": mattn/go-sqlite3 with caching,
// configured from the environment, so that an application needs no code beyond the driver name:
//
//	import _ "github.com/cachedsql/cachedsql/drivers/sqlite3"
//
//	db, err := sql.Open("sqlite3+cachedsql", "file:app.db")
//
// CACHEDSQL_RULES names the rule files or folders, CACHEDSQL_REDIS_URL the Redis to share (unset: an
// in-process store) and CACHEDSQL_NAMESPACE the key prefix; see [cachedsql.OptionsFromEnv].
package sqlite3

import (
	"github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
)

// DriverName is the name this package registers.
const DriverName = "sqlite3+cachedsql"

func init() {
	cachedsql.RegisterFromEnv(DriverName, &sqlite3.SQLiteDriver{})
}
