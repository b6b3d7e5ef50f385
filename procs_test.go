package cachedsql_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Child processes, for the tests that need several processes sharing one store: the test binary
// runs itself with -test.run=^<child test>$ and an environment variable holding the JSON
// configuration. A child prints procReady, waits for a line on its stdin (so that all children start
// together), runs, and prints procSummaryTag followed by its JSON summary.
const (
	procReady      = "child-ready"
	procSummaryTag = "child-summary "
)

// procChild is a running child process whose summary is an S.
type procChild[S any] struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan struct{} // closed when the child is ready or its output ended
	done   chan struct{} // closed when its output ended; then the fields below are set
	out    bytes.Buffer  // its stdout
	errOut bytes.Buffer  // its stderr, written by exec
	sum    *S
	sumErr error
}

// runProcs runs one child per configuration: the test function named test, with cfg as JSON in the
// environment variable env. It starts them together once all are ready, and returns their summaries
// in order. Everything is bounded by timeout.
func runProcs[C, S any](t *testing.T, timeout time.Duration, test, env string, cfgs []C) []S {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	children := make([]*procChild[S], len(cfgs))
	for i, cfg := range cfgs {
		children[i] = startProc[S](t, ctx, test, env, cfg)
	}
	for _, c := range children {
		<-c.ready
	}
	for _, c := range children {
		_, _ = io.WriteString(c.stdin, "go\n") // a child that already exited is reported by wait
		c.stdin.Close()
	}
	out := make([]S, len(children))
	for i, c := range children {
		s, err := c.wait()
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		out[i] = s
	}
	return out
}

func startProc[S any](t *testing.T, ctx context.Context, test, env string, cfg any) *procChild[S] {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &procChild[S]{ready: make(chan struct{}), done: make(chan struct{})}
	c.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=2m")
	c.cmd.Env = append(os.Environ(), env+"="+string(b))
	c.cmd.Stderr = &c.errOut
	c.cmd.WaitDelay = time.Second
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.scan(stdout)
	return c
}

// scan reads the child's stdout until it ends.
func (c *procChild[S]) scan(stdout io.Reader) {
	defer close(c.done)
	var once sync.Once
	defer once.Do(func() { close(c.ready) })
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20) // summaries carry latencies
	for sc.Scan() {
		line := sc.Text()
		c.out.WriteString(line + "\n")
		switch {
		case line == procReady:
			once.Do(func() { close(c.ready) })
		case strings.HasPrefix(line, procSummaryTag):
			c.sum = new(S)
			c.sumErr = json.Unmarshal([]byte(strings.TrimPrefix(line, procSummaryTag)), c.sum)
		}
	}
	_, _ = io.Copy(io.Discard, stdout) // a line too long for the scanner: let the child finish
}

// wait waits for the child to exit and returns its summary.
func (c *procChild[S]) wait() (S, error) {
	var zero S
	<-c.done
	err := c.cmd.Wait()
	switch {
	case err != nil:
		return zero, fmt.Errorf("%w\nstdout:\n%s\nstderr:\n%s", err, &c.out, &c.errOut)
	case c.sum == nil:
		return zero, fmt.Errorf("no summary\nstdout:\n%s\nstderr:\n%s", &c.out, &c.errOut)
	case c.sumErr != nil:
		return zero, fmt.Errorf("bad summary: %w", c.sumErr)
	}
	return *c.sum, nil
}

// childConfig decodes, in a child, the configuration in the environment variable env. It reports
// false when the variable is unset: the test was not run as a child.
func childConfig[C any](t *testing.T, env string) (C, bool) {
	t.Helper()
	var cfg C
	s := os.Getenv(env)
	if s == "" {
		return cfg, false
	}
	if err := json.Unmarshal([]byte(s), &cfg); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return cfg, true
}

// childBarrier tells the parent that this child is ready and waits for its start signal.
func childBarrier(t *testing.T) {
	t.Helper()
	fmt.Println(procReady)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("waiting for the start signal: %v", err)
	}
}

// childReport prints this child's summary for the parent.
func childReport(t *testing.T, s any) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(procSummaryTag + string(b))
}
