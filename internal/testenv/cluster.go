package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
)

// cluster is a throwaway PostgreSQL cluster in a temporary directory.
type cluster struct {
	dsn    string   // base DSN of its database "test"
	dir    string   // temporary directory: data dir, socket, log
	pgCtl  string   // path of pg_ctl
	prefix []string // command prefix running as the postgres user, if root
}

// findPGBin returns the path of a PostgreSQL server binary, from PATH or the
// newest /usr/lib/postgresql/*/bin.
func findPGBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob(filepath.Join("/usr/lib/postgresql/*/bin", name))
	if len(matches) == 0 {
		return "", fmt.Errorf("testenv: %s not found in PATH or /usr/lib/postgresql/*/bin", name)
	}
	slices.SortFunc(matches, func(a, b string) int { return versionOf(a) - versionOf(b) })
	return matches[len(matches)-1], nil
}

// versionOf returns the major version in a /usr/lib/postgresql/<v>/bin path.
func versionOf(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// asPostgresUser returns the command prefix that runs initdb and pg_ctl: none
// for a normal user, runuser as the postgres OS user for root (initdb
// refuses to run as root), and the owner uid and gid for the data directory.
func asPostgresUser() (prefix []string, uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, errors.New("testenv: running as root and there is no postgres OS user to run initdb as")
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		return nil, 0, 0, errors.New("testenv: running as root and runuser is not available to run initdb as postgres")
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return []string{runuser, "-u", "postgres", "--"}, uid, gid, nil
}

// startCluster creates and starts a cluster on a free port and creates its
// database "test".
func startCluster() (*cluster, error) {
	initdb, err := findPGBin("initdb")
	if err != nil {
		return nil, err
	}
	pgCtl, err := findPGBin("pg_ctl")
	if err != nil {
		return nil, err
	}
	prefix, uid, gid, err := asPostgresUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cachedsql-pg-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	c := &cluster{dir: dir, pgCtl: pgCtl, prefix: prefix}
	if err := c.init(initdb, uid, gid); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := c.start(); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// init runs initdb into c.dir/data, owned by uid:gid (-1: unchanged).
func (c *cluster) init(initdb string, uid, gid int) error {
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	return c.run(initdb, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync",
		"-D", filepath.Join(c.dir, "data"))
}

// start starts the server on a free port, waits for it and creates the
// database "test".
func (c *cluster) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, c.dir)
	if err := c.run(c.pgCtl, "start", "-w", "-t", strconv.Itoa(int(startTimeout.Seconds())),
		"-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("%w\n%s", err, log)
	}
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := poll(startTimeout, nil, func() error { return pingPostgres(admin) }); err != nil {
		return err
	}
	if err := execPostgres(admin, "CREATE DATABASE test"); err != nil {
		return fmt.Errorf("testenv: create database test: %w", err)
	}
	c.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable", port)
	return nil
}

// stop stops the server at once and removes its directory.
func (c *cluster) stop() {
	_ = c.run(c.pgCtl, "stop", "-m", "immediate", "-w", "-D", filepath.Join(c.dir, "data"))
	_ = os.RemoveAll(c.dir)
}

// run runs a PostgreSQL binary (as the postgres user if needed), bounded in time.
func (c *cluster) run(bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 6*startTimeout)
	defer cancel()
	argv := append(slices.Clone(c.prefix), bin)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.dir
	cmd.WaitDelay = probeTimeout // a daemonized child must not hold our pipe open
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testenv: %s %s: %w\n%s", filepath.Base(bin), args[0], err, out)
	}
	return nil
}
