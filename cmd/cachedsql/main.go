// Command cachedsql shows, checks and operates the cachedsql driver wrapper.
//
// Usage:
//
//	cachedsql demo [-pg DSN] [-redis URL] [-rows N]
//	cachedsql explain [-rules FILES] [-f FILE] [SQL...]
//	cachedsql check [-dsn DSN] [-driver D] [-strict] [FILE...]
//	cachedsql warm -dsn DSN [-driver D] -rules FILES -redis URL [-namespace NS] [-concurrency N] [-store-timeout D] WARM.yaml
//	cachedsql hot -redis URL [-namespace NS] [-db ID] [-n N] [-f FILE] [-rules FILES] [-dsn DSN...]
//	cachedsql invalidations -redis URL [-namespace NS] [-db ID] [-n N] [-f FILE] [-dsn DSN...]
//	cachedsql flush -redis URL [-namespace NS] (-all | -rule R [-db ID] | -table T -dsn DSN [-driver D])
//	cachedsql stats -redis URL [-namespace NS] [-db ID] [-n N] [-json]
//	cachedsql advise -redis URL [-namespace NS] [-db ID] [-hit-cost D]
//	cachedsql pg install -dsn DSN [-channel C] [-tables a,b]
//	cachedsql pg uninstall -dsn DSN
//
// Every command prints its usage with -h or --help (to stdout, exit status 0). A usage mistake exits
// with status 2, a failure with status 1. Flags may come before or after the other arguments.
//
// The flags that the library also reads from the environment default to it: -redis to
// CACHEDSQL_REDIS_URL, -namespace to CACHEDSQL_NAMESPACE, -rules to CACHEDSQL_RULES, -store-timeout to
// CACHEDSQL_STORE_TIMEOUT; warm also reads CACHEDSQL_SESSION_SETTINGS. Values are parsed by
// [cachedsql.OptionsFromLookup], so -redis takes every URL the library takes, a Cluster's included
// (redis://host:port?addr=host2:port2).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	redis.SetLogger(&onceLogger{w: os.Stderr})
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// onceLogger prints the first message of the Redis client and drops the others: against a Redis that
// is down, the client logs every failed dial, and the commands say what it means themselves.
type onceLogger struct {
	once sync.Once
	w    io.Writer
}

func (l *onceLogger) Printf(_ context.Context, format string, v ...any) {
	l.once.Do(func() {
		fmt.Fprintf(l.w, format+" (further messages of the Redis client are not shown)\n", v...)
	})
}

// cli is one run of the command: its standard streams and environment.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // as a shell reports a process ended by SIGINT
)

// command is one subcommand.
type command struct {
	name     string
	synopsis string // one line: the arguments
	brief    string // what it does, for the top-level usage
	run      func(c *cli, ctx context.Context, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"demo", "[-pg DSN] [-redis URL] [-rows N]", "run the demo (SQLite and process memory unless told otherwise)", (*cli).demo},
		{"explain", "[-rules FILES] [-f FILE] [SQL...]", "show how statements are classified, keyed and matched by rules", (*cli).explain},
		{"check", "[-dsn DSN] [-driver D] [-strict] [FILE...]", "lint rule files", (*cli).check},
		{"warm", "-dsn DSN [-driver D] -rules FILES -redis URL [-namespace NS] [-concurrency N] [-store-timeout D] WARM.yaml",
			"fill a shared cache from a file of statements", (*cli).warm},
		{"hot", "-redis URL [-namespace NS] [-db ID] [-n N] [-f FILE] [-rules FILES] [-dsn DSN]...", "list the hot statements and entries of refresh_ahead and write_through rules", (*cli).hot},
		{"invalidations", "-redis URL [-namespace NS] [-db ID] [-n N] [-f FILE] [-dsn DSN]...", "list recent invalidations, newest first", (*cli).invalidations},
		{"flush", "-redis URL [-namespace NS] (-all | -rule R [-db ID] | -table T -dsn DSN [-driver D])",
			"drop a namespace or a rule's entries, or invalidate a table", (*cli).flush},
		{"stats", "-redis URL [-namespace NS] [-db ID] [-n N] [-json]", "per-statement statistics of every process sharing the store", (*cli).stats},
		{"advise", "-redis URL [-namespace NS] [-db ID] [-hit-cost D]", "tell which statements caching would pay for, as a rule file", (*cli).advise},
		{"pg", "(install -dsn DSN [-channel C] [-tables a,b] | uninstall -dsn DSN)", "install or remove PostgreSQL change-signal triggers", (*cli).pg},
	}
}

// topUsage is the usage of the command itself.
func topUsage() string {
	var b strings.Builder
	b.WriteString("cachedsql shows, checks and operates the cachedsql driver wrapper.\n\nUsage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  cachedsql %s %s\n", c.name, c.synopsis)
	}
	b.WriteString("\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-14s %s\n", c.name, c.brief)
	}
	b.WriteString("\nRun 'cachedsql COMMAND -h' for a command's flags. Flags default to the CACHEDSQL_* environment\n" +
		"variables the library reads (CACHEDSQL_REDIS_URL, CACHEDSQL_NAMESPACE, CACHEDSQL_RULES,\n" +
		"CACHEDSQL_STORE_TIMEOUT, CACHEDSQL_SESSION_SETTINGS).\n" +
		"Exit status: 0 done, 1 failed, 2 usage mistake.\n")
	return b.String()
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return c.main(ctx, args)
}

// main runs args with c's streams and environment, and returns the exit status.
func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, topUsage())
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 { // help COMMAND
			return c.main(ctx, []string{args[1], "-h"})
		}
		fmt.Fprint(c.stdout, topUsage())
		return exitOK
	}
	i := slices.IndexFunc(commands, func(cmd command) bool { return cmd.name == name })
	if i < 0 {
		fmt.Fprintf(c.stderr, "cachedsql: unknown command %q\n\n%s", name, topUsage())
		return exitUsage
	}
	return c.report(ctx, commands[i], commands[i].run(c, ctx, args[1:]))
}

// report prints err of command cmd where it belongs and returns the exit status.
func (c *cli) report(ctx context.Context, cmd command, err error) int {
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintf(c.stderr, "cachedsql %s: interrupted\n", cmd.name)
		return exitInterrupted
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "cachedsql %s: %s\nusage: cachedsql %s %s\nRun 'cachedsql %s -h' for help.\n",
			cmd.name, ue.msg, cmd.name, cmd.synopsis, cmd.name)
		return exitUsage
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintf(c.stderr, "cachedsql %s: %s\n", cmd.name, ee.msg)
		}
		return ee.code
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "cachedsql") { // the library's errors name it already
		msg = "cachedsql " + cmd.name + ": " + msg
	}
	fmt.Fprintln(c.stderr, msg)
	return exitFailure
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError ends a command with an exit status of its own, after printing msg (if any) to stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// flags returns the flag set of the command named name; -h prints "usage: cachedsql SYNOPSIS", about,
// then the flags, to stdout. The synopsis is the command's own unless given.
func (c *cli) flags(name, about string, synopsis ...string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs.SetOutput(io.Discard) // parse reports mistakes as usage errors
	fs.FlagSet.Usage = func() {}
	syn := strings.Join(synopsis, " ")
	if i := slices.IndexFunc(commands, func(cmd command) bool { return cmd.name == name }); i >= 0 && syn == "" {
		syn = name + " " + commands[i].synopsis
	}
	fs.usage = func() {
		fmt.Fprintf(c.stdout, "usage: cachedsql %s\n\n%s\n", syn, strings.TrimSpace(about))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(c.stdout, "\nFlags:\n")
			fs.SetOutput(c.stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	return fs
}

// flagSet is a command's flags, with the usage that -h prints.
type flagSet struct {
	*flag.FlagSet
	usage func()
}

// flagRE matches what parse takes for a flag: -name, --name, -name=value. Anything else (a statement
// starting with a "--" comment, "-" for stdin) is an argument.
var flagRE = regexp.MustCompile(`^--?[A-Za-z][A-Za-z0-9_.-]*(=|$)`)

// parse parses args with fs, flags and other arguments in any order ("--" ends the flags), and returns
// the other arguments. -h, -help and --help print the usage to stdout and return flag.ErrHelp; any
// other mistake is a usage error.
func parse(fs *flagSet, args []string) ([]string, error) {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case flagRE.MatchString(a):
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			f := fs.Lookup(name)
			if f == nil {
				continue // unknown: Parse reports it
			}
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			rest = append(rest, a)
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.usage()
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	return rest, nil
}

// noArgs reports extra arguments of a command that takes none.
func noArgs(rest []string) error {
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	return nil
}

// envFlag ties a flag to the CACHEDSQL_* variable it overrides ("" flag: the variable alone).
type envFlag struct{ flag, env string }

// The flags of the library's environment variables.
var (
	redisFlag     = envFlag{"redis", cachedsql.EnvRedisURL}
	namespaceFlag = envFlag{"namespace", cachedsql.EnvNamespace}
	rulesFlag     = envFlag{"rules", cachedsql.EnvRules}
	timeoutFlag   = envFlag{"store-timeout", cachedsql.EnvStoreTimeout}
	sessionVar    = envFlag{"", cachedsql.EnvSessionSettings}
)

// Flag descriptions shared by the commands.
const (
	redisUsage     = "Redis URL the application caches in (default $" + cachedsql.EnvRedisURL + "): redis://[user:pass@]host:port/db, rediss://…, or a Cluster: redis://host:port?addr=host2:port2"
	namespaceUsage = "the application's key namespace (default $" + cachedsql.EnvNamespace + ", else cachedsql)"
	rulesUsage     = "rule files or folders, separated by the OS path list separator (default $" + cachedsql.EnvRules + ")"
)

// options builds the library's Options from the variables vars name, each overridden by its flag in fs
// when the flag was given, with the library's own parsing. A value that cannot be used is a usage
// error, naming the flag or the variable it came from; a rule file with problems is a failure. The
// caller closes o.Redis.
func (c *cli) options(fs *flagSet, vars ...envFlag) (cachedsql.Options, error) {
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	source := func(env string) (envFlag, bool) {
		i := slices.IndexFunc(vars, func(v envFlag) bool { return v.env == env })
		if i < 0 {
			return envFlag{}, false
		}
		return vars[i], true
	}
	o, err := cachedsql.OptionsFromLookup(func(env string) string {
		v, ok := source(env)
		switch {
		case !ok:
			return ""
		case v.flag != "" && given[v.flag]:
			return fs.Lookup(v.flag).Value.String()
		}
		return c.getenv(env)
	})
	var ee *cachedsql.EnvError
	if !errors.As(err, &ee) {
		return o, err
	}
	name := ee.Var
	if v, _ := source(ee.Var); v.flag != "" && given[v.flag] {
		name = "-" + v.flag
	}
	if ee.Var == cachedsql.EnvRules {
		return o, fmt.Errorf("%s: %w", name, ee.Err)
	}
	return o, usagef("%s: %v", name, ee.Err)
}

// needRedis returns a usage error when o has no Redis client.
func needRedis(o cachedsql.Options) error {
	if o.Redis == nil {
		return usagef("no Redis: give -redis URL or set %s", cachedsql.EnvRedisURL)
	}
	return nil
}

// adminOf reads the options of vars (-redis and -namespace among them) as options does, requires a
// Redis, and returns them with the Admin of that Redis and namespace. The caller closes o.Redis; after
// an error it is closed already.
func (c *cli) adminOf(fs *flagSet, vars ...envFlag) (cachedsql.Options, *cachedsql.Admin, error) {
	o, err := c.options(fs, vars...)
	if err == nil {
		err = needRedis(o)
	}
	if err != nil {
		if o.Redis != nil {
			o.Redis.Close()
		}
		return o, nil, err
	}
	return o, cachedsql.NewAdmin(o.Redis, o.Namespace), nil
}
