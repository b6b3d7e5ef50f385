package main

import (
	"context"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// TestHelp: -h, -help and --help print the usage of the command (or of the tool) to stdout and exit
// with status 0, wherever they come on the line; they are never taken for an argument.
func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want string // start of stdout
	}{
		{[]string{"-h"}, "cachedsql shows"},
		{[]string{"--help"}, "cachedsql shows"},
		{[]string{"help"}, "cachedsql shows"},
		{[]string{"help", "warm"}, "usage: cachedsql warm "},
		{[]string{"explain", "SELECT 1", "-h"}, "usage: cachedsql explain "},
		{[]string{"pg", "-h"}, "usage: cachedsql pg install"},
		{[]string{"pg", "install", "--help"}, "usage: cachedsql pg install -dsn DSN"},
		{[]string{"pg", "uninstall", "-h"}, "usage: cachedsql pg uninstall -dsn DSN"},
	}
	for _, c := range commands {
		for _, h := range []string{"-h", "-help", "--help"} {
			tests = append(tests, struct {
				args []string
				want string
			}{[]string{c.name, h}, "usage: cachedsql " + c.name})
		}
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := cmd(t, tt.args...)
			if out := r.ok(t); !strings.HasPrefix(out, tt.want) {
				t.Errorf("stdout does not start with %q:\n%s", tt.want, out)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %q, want nothing", r.stderr)
			}
		})
	}
}

// TestUsageErrors: a mistake in the command line prints what is wrong and the synopsis to stderr,
// nothing to stdout, and exits with status 2.
func TestUsageErrors(t *testing.T) {
	url := "redis://127.0.0.1:1/0"
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{nil, "Usage:"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"demo", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
		{[]string{"demo", "-rows", "-5"}, "-rows must be at least 1, got -5"},
		{[]string{"demo", "-rows", "many"}, `invalid value "many" for flag -rows`},
		{[]string{"explain", "-f", "x.sql", "SELECT 1"}, "not both"},
		{[]string{"check"}, "no rule file"},
		{[]string{"check", "-driver", "mysql", "x.yaml"}, `unknown driver "mysql"`},
		{[]string{"warm", "w.yaml"}, "-dsn is required"},
		{[]string{"warm", "-dsn", "x"}, "no warm file"},
		{[]string{"warm", "-dsn", "x", "-concurrency", "0", "w.yaml"}, "-concurrency must be at least 1"},
		{[]string{"warm", "-dsn", "x", "-driver", "sqlite3", "-store-timeout", "soon", "w.yaml"}, "-store-timeout: want a positive duration"},
		{[]string{"warm", "-dsn", "x", "-driver", "sqlite3", "-redis", url, "testdata/warm.yaml"}, "no rules: give -rules"},
		{[]string{"warm", "-dsn", "x", "-driver", "sqlite3", "-rules", "testdata/warm-rules.yaml", "testdata/warm.yaml"}, "no Redis"},
		{[]string{"hot"}, "no Redis: give -redis URL or set CACHEDSQL_REDIS_URL"},
		{[]string{"hot", "-redis", "http://nope"}, "-redis: redis: invalid URL scheme"},
		{[]string{"hot", "-redis", url, "-n", "0"}, "-n must be positive"},
		{[]string{"hot", "-redis", url, "more"}, `unexpected argument "more"`},
		{[]string{"invalidations", "-redis", url, "-n", "-1"}, "-n must be positive"},
		{[]string{"invalidations", "-redis", url, "x"}, `unexpected argument "x"`},
		{[]string{"flush", "-redis", url}, "give one of -all"},
		{[]string{"flush", "-redis", url, "-all", "x"}, `unexpected argument "x"`},
		{[]string{"pg"}, "want install or uninstall"},
		{[]string{"pg", "reinstall"}, `unknown command "reinstall"`},
		{[]string{"pg", "install"}, "-dsn is required"},
		{[]string{"pg", "uninstall", "-dsn", "x", "y"}, `unexpected argument "y"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := cmd(t, tt.args...)
			r.want(t, exitUsage, tt.want)
			if r.stdout != "" {
				t.Errorf("stdout: %q, want nothing", r.stdout)
			}
			if len(tt.args) > 0 && tt.args[0] != "nope" && !strings.Contains(r.stderr, "usage: cachedsql "+tt.args[0]) {
				t.Errorf("stderr lacks the synopsis:\n%s", r.stderr)
			}
		})
	}
}

// TestFailure: a command that fails exits with status 1 and says why on stderr.
func TestFailure(t *testing.T) {
	r := cmd(t, "explain", "-f", "testdata/no-such.sql")
	r.want(t, exitFailure, "cachedsql explain: open testdata/no-such.sql")
	r = cmd(t, "hot", "-redis", "redis://127.0.0.1:1/0?dial_timeout=100ms&max_retries=-1")
	r.want(t, exitFailure, "connection refused")
}

// TestEnvironment: the commands read the library's CACHEDSQL_* variables, a flag overrides its
// variable, and a bad value names where it came from.
func TestEnvironment(t *testing.T) {
	ns := testNamespace(t)
	env := map[string]string{cachedsql.EnvRedisURL: redisURL(t), cachedsql.EnvNamespace: ns}
	out := cmdEnv(t, env, "", "hot").ok(t)
	if want := "no hot sets under " + ns + ":h:*\n"; out != want {
		t.Errorf("hot with the environment: %q, want %q", out, want)
	}
	out = cmdEnv(t, env, "", "hot", "-namespace", ns+"-flag").ok(t)
	if want := "no hot sets under " + ns + "-flag:h:*\n"; out != want {
		t.Errorf("hot with -namespace: %q, want %q", out, want)
	}
	env[cachedsql.EnvRedisURL] = "http://nope"
	cmdEnv(t, env, "", "invalidations").want(t, exitUsage, "CACHEDSQL_REDIS_URL: redis: invalid URL scheme")
	out = cmdEnv(t, env, "", "invalidations", "-redis", redisURL(t)).ok(t)
	if want := "no invalidations logged under " + ns + ":log:*\n"; out != want {
		t.Errorf("invalidations with -redis over a bad variable: %q, want %q", out, want)
	}
	env = map[string]string{cachedsql.EnvRules: "testdata/warm-rules.yaml"}
	out = cmdEnv(t, env, "", "explain", "SELECT id FROM users").ok(t)
	if !strings.Contains(out, "rule:        users (testdata/warm-rules.yaml:4)") {
		t.Errorf("explain with %s: no rule line:\n%s", cachedsql.EnvRules, out)
	}
	env[cachedsql.EnvRules] = "testdata/warm-syntax.yaml"
	cmdEnv(t, env, "", "explain", "SELECT 1").want(t, exitFailure, "CACHEDSQL_RULES: testdata/warm-syntax.yaml")
	cmdEnv(t, env, "", "explain", "-rules", "testdata/warm-bad.yaml", "SELECT 1").want(t, exitFailure, "-rules: testdata/warm-bad.yaml")
	env = map[string]string{cachedsql.EnvStoreTimeout: "-3s"}
	cmdEnv(t, env, "", "demo", "-rows", "1").want(t, exitUsage, "CACHEDSQL_STORE_TIMEOUT: want a positive duration")
}

// TestClusterURL: the commands take the URL of a Redis Cluster (addr= parameters), as the library does.
func TestClusterURL(t *testing.T) {
	ctx := context.Background()
	cl := testenv.RedisCluster(t)
	addrs := cl.Options().Addrs
	url := "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
	ns := testNamespace(t)
	t.Cleanup(func() { cachedsql.NewAdmin(cl, ns).Flush(context.Background()) })
	if err := cachedsql.NewAdmin(cl, ns).InvalidateTables(ctx, "cluster-db", "users"); err != nil {
		t.Fatal(err)
	}
	out := cmd(t, "invalidations", "-redis", url, "-namespace", ns).ok(t)
	if !strings.HasSuffix(out, "  db "+string(cachedsql.DatabaseIDOf("cluster-db"))+"  users  cachedsql.Admin\n") {
		t.Errorf("invalidations on the cluster:\n%s", out)
	}
	out = cmd(t, "flush", "-redis", url, "-namespace", ns, "-all").ok(t)
	if out == "deleted 0 keys under "+ns+":*\n" {
		t.Errorf("flush on the cluster deleted nothing: %s", out)
	}
}
