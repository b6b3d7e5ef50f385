package cachedsql

import (
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
)

type mysqlLikeDriver struct{}

func (mysqlLikeDriver) Open(string) (driver.Conn, error) { return nil, driver.ErrBadConn }

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parent driver.Driver
		want   dbKind
	}{
		{"pgx", stdlib.GetDefaultDriver(), kindPostgres},
		{"", stdlib.GetDefaultDriver(), kindPostgres},
		{"sqlite3", &sqlite3.SQLiteDriver{}, kindSQLite},
		{"", &sqlite3.SQLiteDriver{}, kindSQLite},
		{"postgres", mysqlLikeDriver{}, kindPostgres}, // lib/pq registers "postgres"
		{"mysql", mysqlLikeDriver{}, kindOther},
		{"", mysqlLikeDriver{}, kindOther},
	} {
		if got := kindOf(tc.name, tc.parent); got != tc.want {
			t.Errorf("kindOf(%q, %T) = %d, want %d", tc.name, tc.parent, got, tc.want)
		}
	}
}

func TestSessionSettingsFromEnv(t *testing.T) {
	t.Setenv(EnvSessionSettings, " app.tenant, ,app.region")
	o, err := OptionsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(o.SessionSettings); got != "[app.tenant app.region]" {
		t.Errorf("SessionSettings from %s = %s, want [app.tenant app.region]", EnvSessionSettings, got)
	}
}
