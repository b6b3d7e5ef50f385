package pgx_test

import (
	"testing"

	"github.com/cachedsql/cachedsql/drivers/internal/drivertest"
	pgxcache "github.com/cachedsql/cachedsql/drivers/pgx"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var driver = drivertest.Driver{
	Name:   pgxcache.DriverName,
	DSN:    func(t *testing.T) string { return testenv.Postgres(t) },
	Dollar: true,
}

// TestDriverFromEnv is the only test of this package that opens the driver: the driver reads the
// environment once per process, at first use.
func TestDriverFromEnv(t *testing.T) { drivertest.FromEnv(t, driver) }

// TestDriverBadRulesFromEnv: a rule file with a mistake makes the first use of the driver fail with
// the file and line of the mistake.
func TestDriverBadRulesFromEnv(t *testing.T) {
	drivertest.BadRulesFromEnv(t, driver, "TestDriverBadRulesFromEnv", "postgres://nobody@127.0.0.1:1/none")
}
