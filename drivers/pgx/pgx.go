// Package pgx registers the database/sql driver "pgx+cachedsql": pgx's stdlib driver with caching,
// configured from the environment, so that an application needs no code beyond the driver name:
//
//	import _ "github.com/cachedsql/cachedsql/drivers/pgx"
//
//	db, err := sql.Open("pgx+cachedsql", "postgres://app@db:5432/app")
//
// CACHEDSQL_RULES names the rule files or folders, CACHEDSQL_REDIS_URL the Redis to share (unset: an
// in-process store) and CACHEDSQL_NAMESPACE the key prefix; see [cachedsql.OptionsFromEnv].
package pgx

import (
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cachedsql/cachedsql"
)

// DriverName is the name this package registers.
const DriverName = "pgx+cachedsql"

func init() {
	cachedsql.RegisterFromEnv(DriverName, stdlib.GetDefaultDriver())
}
