package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"

	"github.com/cachedsql/cachedsql"
)

const checkAbout = `
Check lints rule files (or folders of them): the files or $CACHEDSQL_RULES. A problem that stops the
rules from loading is printed as file:line: message, and check exits with status 1. The rules that load
are then checked for what is valid but probably wrong, each printed as file:line: warning: message
(see cachedsql.Rules.Lint): a rule that never applies because an earlier rule matches every statement
it would, and a default rule with no ttl; with -dsn, also tables that do not exist in the database and
row rules whose key is not unique there (PostgreSQL and SQLite). Warnings leave the exit status 0
unless -strict is given.`

// check lints rule files.
func (c *cli) check(ctx context.Context, args []string) error {
	fs := c.flags("check", checkAbout)
	dsn := fs.String("dsn", "", "data source name of the database whose catalog the rules are checked against")
	drv := fs.String("driver", "pgx", "database/sql driver of -dsn: pgx or sqlite3")
	strict := fs.Bool("strict", false, "exit with status 1 on warnings too")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		files = filepath.SplitList(c.getenv(cachedsql.EnvRules))
	}
	if len(files) == 0 {
		return usagef("no rule file: give FILE arguments or set %s", cachedsql.EnvRules)
	}
	if err := checkDriver(*drv); err != nil {
		return err
	}
	rs, err := cachedsql.LoadRules(files...)
	if err != nil {
		n := printProblems(c, err)
		return &exitError{code: exitFailure, msg: fmt.Sprintf("%d problem(s)", n)}
	}
	var db *sql.DB
	if *dsn != "" {
		if db, err = sql.Open(*drv, *dsn); err != nil {
			return err
		}
		defer db.Close()
	}
	ws, err := rs.Lint(ctx, db)
	for _, w := range ws {
		fmt.Fprintln(c.stdout, warningLine(w))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%d rule(s): %d warning(s)\n", len(rs.All()), len(ws))
	if *strict && len(ws) > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}

// warningLine prints a warning as file:line: warning: rule "name": msg.
func warningLine(w cachedsql.LintWarning) string {
	msg := w
	msg.File, msg.Line = "", 0
	switch {
	case w.File != "" && w.Line > 0:
		return fmt.Sprintf("%s:%d: warning: %s", w.File, w.Line, msg)
	case w.File != "":
		return fmt.Sprintf("%s: warning: %s", w.File, msg)
	}
	return "warning: " + msg.String()
}

// printProblems prints each problem err joins on a line of its own to stdout, and returns how many.
func printProblems(c *cli, err error) int {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		fmt.Fprintln(c.stdout, e)
	}
	return len(errs)
}

// checkDriver reports a driver name the command has no driver for.
func checkDriver(name string) error {
	for _, d := range sql.Drivers() {
		if d == name {
			return nil
		}
	}
	return usagef("-driver: unknown driver %q (want pgx or sqlite3)", name)
}
