// Prometheus serves the metrics of a cached SQLite database at /metrics, through the OpenTelemetry
// Prometheus exporter: it opens the database with a cachedsqlotel observer, runs a small workload of
// hits, misses and bypasses, prints the cache's own counters, and serves until interrupted. The
// CACHEDSQL_* environment applies (CACHEDSQL_REDIS_URL, CACHEDSQL_NAMESPACE …), except
// CACHEDSQL_RULES: the example caches by its own rules.yaml.
//
//	go run ./examples/prometheus        (in the otel folder)
//	curl -s localhost:9464/metrics | grep cachedsql_reads_total
//
// Flags: -addr HOST:PORT (default localhost:9464), -redis URL (default: the in-process store).
package main

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cachedsql/cachedsql"
	cachedsqlotel "github.com/cachedsql/cachedsql/otel"
)

//go:embed rules.yaml
var rulesYAML []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ error }

// run parses args, opens the database, runs the workload and serves /metrics until ctx is done. When
// started is not nil, it is called with the address served and the database once serving has begun.
func run(ctx context.Context, args []string, out io.Writer, started func(addr string, db *sql.DB)) error {
	fs := flag.NewFlagSet("prometheus", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "localhost:9464", "`address` to serve /metrics on")
	redisURL := fs.String("redis", "", "Redis `URL` such as redis://localhost:6379/0 (default: the in-process store)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("prometheus: unexpected arguments %q", fs.Args())}
	}
	opts, err := cachedsql.OptionsFromEnv()
	if err != nil {
		return err
	}
	if *redisURL != "" {
		ro, err := redis.ParseURL(*redisURL)
		if err != nil {
			return usageError{fmt.Errorf("prometheus: -redis: %w", err)}
		}
		ro.ContextTimeoutEnabled = true // so that the cache's store timeout cuts socket I/O
		opts.Redis = redis.NewClient(ro)
	}
	if opts.Redis != nil {
		defer opts.Redis.Close()
	}
	if opts.Rules, err = cachedsql.ParseRules("rules.yaml", rulesYAML); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cachedsql-prometheus")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// --- prometheus ---
	// The exporter is a reader of the SDK's meter provider, and a collector of a Prometheus registry.
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer provider.Shutdown(context.Background())

	obs, err := cachedsqlotel.New(&cachedsqlotel.Options{MeterProvider: provider})
	if err != nil {
		return err
	}
	opts.Observer = obs // or cachedsqlotel.Join(obs, yourObserver)
	db, err := cachedsql.Open("sqlite3", filepath.Join(dir, "shop.db"), opts)
	if err != nil {
		return err
	}
	defer db.Close()
	// Fills, results not stored, the breaker: read from cachedsql.StatsOf(db) at each scrape.
	if _, err := obs.RegisterStats(db); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	// --- end prometheus ---

	if err := workload(ctx, db); err != nil {
		return err
	}
	printStats(out, db)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(out, "serving metrics on http://%s/metrics (interrupt to stop)\n", ln.Addr())
	if started != nil {
		started(ln.Addr().String(), db)
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// workload creates a small shop and reads it: misses then hits under two rules, a read bypassed by
// the caller, a read no rule caches, and a write followed by a fresh read.
func workload(ctx context.Context, db *sql.DB) error {
	for _, s := range []string{
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount INTEGER)`,
		`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)`,
		`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`,
		`INSERT INTO orders (customer, amount) VALUES ('ann', 10), ('ann', 20), ('bob', 5), ('cy', 8)`,
		`INSERT INTO customers (name) VALUES ('ann'), ('bob'), ('cy')`,
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	const ordersOf = `SELECT count(*), sum(amount) FROM orders WHERE customer = ?`
	read := func(ctx context.Context, query string, args ...any) error {
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	}
	for range 3 {
		for _, c := range []string{"ann", "bob", "cy"} {
			if err := read(ctx, ordersOf, c); err != nil {
				return err
			}
		}
	}
	for range 2 {
		if err := read(ctx, `SELECT id FROM customers WHERE name = ?`, "bob"); err != nil {
			return err
		}
	}
	if err := read(cachedsql.WithBypass(ctx), ordersOf, "ann"); err != nil {
		return err
	}
	if err := read(ctx, `SELECT count(*) FROM notes`); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO orders (customer, amount) VALUES (?, ?)`, "ann", 7); err != nil {
		return err
	}
	return read(ctx, ordersOf, "ann")
}

// printStats prints the cache's own counters, per rule, for comparison with /metrics.
func printStats(out io.Writer, db *sql.DB) {
	st, _ := cachedsql.StatsOf(db)
	var names []string
	for name := range st.Rules {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		rs := st.Rules[name]
		fmt.Fprintf(out, "rule %s: %d hits, %d misses, %d bypasses, %d fills\n", name, rs.Hits, rs.Misses, rs.Bypasses, rs.Fills)
	}
	fmt.Fprintf(out, "bypasses by reason: %v\n", st.Bypasses)
}
