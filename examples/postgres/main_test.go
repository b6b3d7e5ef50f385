package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestPostgresExample(t *testing.T) {
	cfg := config{
		dsn:       testenv.Postgres(t),
		redisAddr: testenv.RedisAddr(t),
		namespace: strings.TrimSuffix(testenv.Prefix(t), ":"),
		// The test machine runs other tests at once: the default 50ms could turn a slow Redis
		// reply into a bypass and change the output.
		storeTimeout: 2 * time.Second,
	}
	var out bytes.Buffer
	if err := run(context.Background(), &out, cfg); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	want := `connector, first read (miss): pen costs 1.50
connector, second read (hit): pen costs 1.50
open: price of pen set to 1.75
connector, read after the write (fresh): pen costs 1.75
open stats: invalidations=4
connector stats: hits=1 misses=2 fills=2
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
