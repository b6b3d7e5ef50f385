package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestPostgresExample: the reads through the connector return the rows of the moment, fresh after a
// write through the other handle, and their labels are what the cache's counters say. The example runs
// with the default options: a Redis reply slower than StoreTimeout (50ms) turns a hit into a bypass,
// which the labels then show, so the test reads the labels rather than expecting the usual ones.
func TestPostgresExample(t *testing.T) {
	cfg := config{
		dsn:       testenv.Postgres(t),
		redisURL:  "redis://" + testenv.RedisAddr(t) + "/0",
		namespace: strings.TrimSuffix(testenv.Prefix(t), ":"),
	}
	var out bytes.Buffer
	if err := run(context.Background(), &out, cfg); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	re := regexp.MustCompile(`^connector, first read \((miss|bypass: store unavailable)\): pen costs 1\.50
connector, second read \((hit|bypass: store unavailable)\): pen costs 1\.50
open: price of pen set to 1\.75
connector, read after the write \((miss|bypass: store unavailable)\): pen costs 1\.75
open stats: invalidations=\d+
connector stats: hits=(\d) misses=(\d) fills=\d bypasses=(\d)
$`)
	m := re.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output:\n%s\nwant it to match:\n%s", out.String(), re)
	}
	count := func(label string) string {
		n := 0
		for _, l := range m[1:4] {
			if strings.HasPrefix(l, label) {
				n++
			}
		}
		return string(rune('0' + n))
	}
	if m[4] != count("hit") || m[5] != count("miss") || m[6] != count("bypass") {
		t.Errorf("labels %q do not agree with the counters hits=%s misses=%s bypasses=%s", m[1:4], m[4], m[5], m[6])
	}
}

// TestPostgresExampleBadRedis: a -redis value that is not a Redis URL is an error.
func TestPostgresExampleBadRedis(t *testing.T) {
	err := run(context.Background(), new(bytes.Buffer), config{redisURL: "127.0.0.1:6379"})
	if err == nil || !strings.Contains(err.Error(), "-redis") {
		t.Errorf("run with -redis 127.0.0.1:6379: error %v, want one naming -redis", err)
	}
}
