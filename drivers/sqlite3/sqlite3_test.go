package sqlite3_test

import (
	"path/filepath"
	"testing"

	"github.com/cachedsql/cachedsql/drivers/internal/drivertest"
	sqlite3cache "github.com/cachedsql/cachedsql/drivers/sqlite3"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var driver = drivertest.Driver{
	Name: sqlite3cache.DriverName,
	DSN:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "app.db") },
}

// TestDriverFromEnv is the only test of this package that opens the driver: the driver reads the
// environment once per process, at first use.
func TestDriverFromEnv(t *testing.T) { drivertest.FromEnv(t, driver) }

// TestDriverBadRulesFromEnv: a rule file with a mistake makes the first use of the driver fail with
// the file and line of the mistake.
func TestDriverBadRulesFromEnv(t *testing.T) {
	drivertest.BadRulesFromEnv(t, driver, "TestDriverBadRulesFromEnv", filepath.Join(t.TempDir(), "bad.db"))
}
