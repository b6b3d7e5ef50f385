package pgx_test

import (
	"database/sql"
	"os"

	_ "github.com/cachedsql/cachedsql/drivers/pgx"
)

func Example() {
	// CACHEDSQL_RULES, CACHEDSQL_REDIS_URL and CACHEDSQL_NAMESPACE configure the cache.
	dsn := os.Getenv("DATABASE_URL")
	db, err := sql.Open("pgx+cachedsql", dsn)
	_, _ = db, err
}
