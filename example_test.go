package cachedsql_test

import (
	"context"
	"database/sql"
	"log"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/cachedsql/cachedsql"
)

// These examples compile but do not run (they need servers); the README's snippets are taken from them,
// and TestReadmeSnippets checks that they stay the same.

func ExampleOpen() {
	rules, err := cachedsql.LoadRules("cache.yaml")
	if err != nil {
		log.Fatal(err) // names the file and line of every problem
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // let the cache's store timeout cut socket I/O
	})
	db, err := cachedsql.Open("pgx", "postgres://app@127.0.0.1:5432/app", cachedsql.Options{
		Redis: rdb,
		Rules: rules,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var name string
	err = db.QueryRow("-- name: GetUser :one\nSELECT name FROM users WHERE id = $1", 42).Scan(&name)
}

func ExampleRegister() {
	cachedsql.Register("pgx+cache", stdlib.GetDefaultDriver(), cachedsql.Options{Rules: rules})
	db, err := sql.Open("pgx+cache", "postgres://app@127.0.0.1:5432/app")
	_, _ = db, err
}

func ExampleWrapConnector() {
	cfg, err := pgx.ParseConfig("postgres://app@127.0.0.1:5432/app")
	if err != nil {
		log.Fatal(err)
	}
	connector, err := cachedsql.WrapConnector(stdlib.GetConnector(*cfg), cachedsql.Options{
		Rules: rules,
		Redis: rdb,
		// The database's identity is read from the server, as Open reads it: a handle opened either
		// way shares invalidations. Other drivers than PostgreSQL and SQLite need Options.Identity.
	})
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(connector)
	_ = db
}

func ExampleWithRefresh() {
	ctx := context.Background()
	// Skip the cache for one call:
	db.QueryRowContext(cachedsql.WithBypass(ctx), "SELECT balance FROM accounts WHERE id = $1", 7)
	// Query the database and store the fresh result:
	db.QueryRowContext(cachedsql.WithRefresh(ctx), "SELECT balance FROM accounts WHERE id = $1", 7)
	// Keep this result for ten seconds instead of the rule's TTL:
	db.QueryRowContext(cachedsql.WithTTL(ctx, 10*time.Second), "SELECT count(*) FROM orders")
}

func ExampleStatsOf() {
	st, _ := cachedsql.StatsOf(db)
	log.Printf("hits %d misses %d (%.0f%%) invalidations %d store errors %d",
		st.Hits, st.Misses, 100*st.HitRatio(), st.Invalidations, st.StoreErrors)
	log.Printf("bypasses by reason: %v", st.Bypasses) // map[no rule:12 transaction:3]
	if n := st.Bypasses[cachedsql.BypassStore]; n > 0 {
		log.Printf("%d reads went to the database because the store was unavailable", n)
	}
}

func ExampleAdmin() {
	ctx := context.Background()
	admin := cachedsql.NewAdmin(rdb, "myapp") // the namespace the applications cache in
	dbs, err := admin.Databases(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range dbs {
		recent, err := admin.Invalidations(ctx, id, 5)
		if err != nil {
			log.Fatal(err)
		}
		for _, inv := range recent {
			log.Printf("%s %s %v %s", id, inv.Time.Format(time.RFC3339), inv.Tables, inv.Cause)
		}
	}
	// After a bulk load made outside the wrapper: the tables' cached reads miss from now on, in every
	// process sharing the store. The identity is the one the caching processes read from the database.
	id, err := cachedsql.ResolveIdentity(ctx, "pgx", dsn)
	if err != nil {
		log.Fatal(err)
	}
	if err := admin.InvalidateTables(ctx, id, "orders", "order_lines"); err != nil {
		log.Fatal(err)
	}
}

// readLogger is an Observer that logs why reads bypass the cache, and slow hits.
type readLogger struct{ log *slog.Logger }

func (l readLogger) ObserveRead(ctx context.Context, ev cachedsql.ReadEvent) {
	switch {
	case ev.Outcome == cachedsql.OutcomeBypass && ev.Bypass != cachedsql.BypassNoRule:
		l.log.InfoContext(ctx, "cache bypassed", "reason", ev.Bypass, "detail", ev.Detail,
			"rule", ev.Rule, "fingerprint", ev.Fingerprint)
	case ev.Outcome == cachedsql.OutcomeHit && ev.Duration > 10*time.Millisecond:
		l.log.WarnContext(ctx, "slow cache hit", "took", ev.Duration, "rule", ev.Rule, "query", ev.Normalized)
	}
}

func ExampleObserver() {
	db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{
		Redis:    rdb,
		Rules:    rules,
		Observer: readLogger{log: slog.Default()},
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = db
}

func Example_gorm() {
	db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{Redis: rdb, Rules: rules})
	if err != nil {
		log.Fatal(err)
	}
	gdb, err := gorm.Open(postgres.New(postgres.Config{Conn: db}), &gorm.Config{})
	_ = gdb
}

func Example_sqlx() {
	db, err := cachedsql.Open("pgx", dsn, cachedsql.Options{Redis: rdb, Rules: rules})
	if err != nil {
		log.Fatal(err)
	}
	xdb := sqlx.NewDb(db, "pgx") // the parent's name tells sqlx to use $1 placeholders
	_ = xdb
}

// Package-level names the examples share.
var (
	rules *cachedsql.Rules
	rdb   *redis.Client
	db    *sql.DB
	dsn   = "postgres://app@127.0.0.1:5432/app"
)
