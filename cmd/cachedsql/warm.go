package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/cachedsql/cachedsql"
)

// warmFile is the format of a warm file: a list of statements with their arguments.
//
//   - query: "-- name: GetUser :one\nSELECT id, name FROM users WHERE id = $1"
//     args: [42]
//   - query: SELECT region, sum(amount) FROM orders GROUP BY region
type warmFile []struct {
	Query string `yaml:"query"`
	Args  []any  `yaml:"args"`
}

// runWarm fills a cache from a file of statements, for deploys and cold starts.
func runWarm(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("warm", flag.ContinueOnError)
	fs.SetOutput(out)
	drv := fs.String("driver", "pgx", "database/sql driver name (pgx or sqlite3)")
	dsn := fs.String("dsn", "", "data source name: the same as the application's, so that keys match")
	rules := fs.String("rules", "", "rule files or folders, separated by "+string(filepath.ListSeparator))
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db) the application caches in")
	ns := fs.String("namespace", "", "the application's key namespace (default cachedsql)")
	file := fs.String("file", "", "YAML file of statements: a list of {query, args}")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" || *rules == "" || *redisURL == "" || *file == "" {
		fs.Usage()
		return errors.New("warm: -dsn, -rules, -redis and -file are required")
	}
	stmts, err := readWarmFile(*file)
	if err != nil {
		return err
	}
	rs, err := cachedsql.LoadRules(filepath.SplitList(*rules)...)
	if err != nil {
		return err
	}
	ro, err := redis.ParseURL(*redisURL)
	if err != nil {
		return fmt.Errorf("warm: -redis: %w", err)
	}
	ro.ContextTimeoutEnabled = true
	rdb := redis.NewClient(ro)
	defer rdb.Close()
	db, err := cachedsql.Open(*drv, *dsn, cachedsql.Options{Rules: rs, Redis: rdb, Namespace: *ns})
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := cachedsql.Warm(ctx, db, stmts...)
	fmt.Fprintf(out, "warm: ran %d of %d statements, stored %d results\n", rep.Statements, len(stmts), rep.Filled)
	return err
}

// readWarmFile reads a warm file; errors name the file and line.
func readWarmFile(path string) ([]cachedsql.WarmStatement, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var wf warmFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&wf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	stmts := make([]cachedsql.WarmStatement, 0, len(wf))
	for i, s := range wf {
		if s.Query == "" {
			return nil, fmt.Errorf("%s: statement %d: query is empty", path, i+1)
		}
		stmts = append(stmts, cachedsql.WarmStatement{Query: s.Query, Args: s.Args})
	}
	return stmts, nil
}
