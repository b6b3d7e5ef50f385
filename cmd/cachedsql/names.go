package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cachedsql/cachedsql"
)

// dsnList is a repeatable -dsn flag.
type dsnList []string

func (l *dsnList) String() string { return strings.Join(*l, " ") }

func (l *dsnList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// databaseNames resolves the database each data source name reaches (as the caching processes do, so
// any spelling works) and returns its name by its id. The store keeps no name of a database: its id is
// a hash of the identity the server reports.
func databaseNames(ctx context.Context, driver string, dsns []string) (map[cachedsql.DatabaseID]string, error) {
	if len(dsns) == 0 {
		return nil, nil
	}
	if err := checkDriver(driver); err != nil {
		return nil, err
	}
	names := make(map[cachedsql.DatabaseID]string, len(dsns))
	for _, dsn := range dsns {
		id, err := cachedsql.ResolveIdentity(ctx, driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("-dsn %s: %w", redactDSN(dsn), err)
		}
		names[cachedsql.DatabaseIDOf(id)] = databaseName(driver, dsn)
	}
	return names, nil
}

// databaseName names the database of dsn for people: a PostgreSQL database and its server, a SQLite
// file, never a password.
func databaseName(driver, dsn string) string {
	if driver == "pgx" {
		if cfg, err := pgx.ParseConfig(dsn); err == nil {
			return fmt.Sprintf("postgres %s on %s:%d", cfg.Database, cfg.Host, cfg.Port)
		}
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if driver == "sqlite3" {
		return "sqlite " + path
	}
	return driver + " " + redactDSN(dsn)
}

// redactDSN hides the password of a URL-style data source name.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

// dbLabel shows a database id, with its name when known.
func dbLabel(id cachedsql.DatabaseID, names map[cachedsql.DatabaseID]string) string {
	if n, ok := names[id]; ok {
		return string(id) + " (" + n + ")"
	}
	return string(id)
}
