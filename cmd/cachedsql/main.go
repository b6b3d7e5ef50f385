// Command cachedsql shows and inspects the cachedsql driver wrapper.
//
// Usage:
//
//	cachedsql demo [-pg DSN] [-redis URL] [-rows N]   run the demo (default: SQLite + in-memory store)
//	cachedsql explain SQL…                            show how statements are classified and keyed
//	cachedsql warm -dsn DSN -rules FILES -redis URL -file WARM.yaml
//	                                                  fill a shared cache from a file of statements
//	cachedsql pg install -dsn DSN [-channel C] [-tables a,b]
//	                                                  install PostgreSQL change-signal triggers
//	cachedsql pg uninstall -dsn DSN                   remove them
//	cachedsql hot -redis URL [-namespace NS] [-db ID] [-n 20]
//	                                                  list the hot entries of refresh_ahead rules
//	cachedsql invalidations -redis URL [-namespace NS] [-db ID] [-n 20]
//	                                                  list recent invalidations, newest first
//	cachedsql flush -redis URL [-namespace NS] (-all | -rule R [-db ID] | -table T [-driver pgx] -dsn DSN)
//	                                                  drop a namespace or a rule's entries, or invalidate a table
//
// hot, invalidations and flush run [cachedsql.Admin]; ID is a database's id as they print it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "cachedsql: ") { // the library's errors name it already
			msg = "cachedsql: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

const usage = `usage:
  cachedsql demo [-pg DSN] [-redis URL] [-rows N]
  cachedsql explain SQL...
  cachedsql hot -redis URL [-namespace NS] [-db ID] [-n 20]
  cachedsql invalidations -redis URL [-namespace NS] [-db ID] [-n 20]
  cachedsql flush -redis URL [-namespace NS] (-all | -rule R [-db ID] | -table T [-driver pgx] -dsn DSN)
  cachedsql warm [-driver pgx] -dsn DSN -rules FILES -redis URL [-namespace NS] -file WARM.yaml
  cachedsql pg install -dsn DSN [-channel C] [-tables a,b]
  cachedsql pg uninstall -dsn DSN
`

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], out)
	case "explain":
		return runExplain(args[1:], out)
	case "warm":
		return runWarm(ctx, args[1:], out)
	case "hot":
		return runHot(ctx, args[1:], out)
	case "invalidations":
		return runInvalidations(ctx, args[1:], out)
	case "flush":
		return runFlush(ctx, args[1:], out)
	case "pg":
		return runPG(ctx, args[1:], out)
	case "stats", "advise":
		return runStatsCommand(ctx, args, out)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
