package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/cachedsql/cachedsql"
)

// runWarm fills a cache from a file of statements, for deploys and cold starts. A warm file is a list
// of statements with their arguments:
//
//   - query: "SELECT id, name FROM users WHERE id = $1"
//     args: [42]
//   - query: SELECT region, sum(amount) FROM orders GROUP BY region
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
	rdb, err := cliRedis("warm", *redisURL)
	if err != nil {
		return err
	}
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
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	list := doc.Content[0]
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: want a list of statements ({query, args})", path, list.Line)
	}
	stmts := make([]cachedsql.WarmStatement, 0, len(list.Content))
	for _, item := range list.Content {
		st, err := warmItem(item)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		stmts = append(stmts, st)
	}
	return stmts, nil
}

// warmItem decodes one {query, args} item; errors say "line N".
func warmItem(item *yaml.Node) (cachedsql.WarmStatement, error) {
	var st cachedsql.WarmStatement
	if item.Kind != yaml.MappingNode {
		return st, fmt.Errorf("line %d: want {query, args}", item.Line)
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		key, val := item.Content[i], item.Content[i+1]
		var err error
		switch key.Value {
		case "query":
			err = val.Decode(&st.Query)
		case "args":
			err = val.Decode(&st.Args)
		default:
			return st, fmt.Errorf("line %d: unknown field %q; allowed: query, args", key.Line, key.Value)
		}
		if err != nil {
			return st, fmt.Errorf("line %d: %s: %w", val.Line, key.Value, err)
		}
	}
	if st.Query == "" {
		return st, fmt.Errorf("line %d: query is empty", item.Line)
	}
	return st, nil
}
