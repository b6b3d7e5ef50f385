package cachedsql_test

import (
	"context"
	"database/sql/driver"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// watches counts the running watch loops (one per cache on Redis) started by a goroutine labelled with
// t's name (pprof.Do), and so by t alone: goroutines inherit the labels of the goroutine that starts
// them. It reads the goroutine profile, whose records group goroutines with the same stack and labels
// ("N @ pcs", "# labels: {…}", then a line per frame).
func watches(t *testing.T) int {
	t.Helper()
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range strings.Split(b.String(), "\n\n") {
		if !strings.Contains(rec, "strategies.(*Watch).loop") || !strings.Contains(rec, `"test":"`+t.Name()+`"`) {
			continue
		}
		count, _, _ := strings.Cut(rec, " @ ") // the first record starts with the profile's header line
		k, err := strconv.Atoi(count[strings.LastIndexByte(count, '\n')+1:])
		if err != nil {
			t.Fatalf("goroutine profile record %q: %v", rec, err)
		}
		n += k
	}
	return n
}

// A connection opened with the wrapping driver's Open, outside any *sql.DB, has a cache of its own,
// which its Close closes. Before the fix every such cache's background work (the watch of the processes
// sharing Redis, here) outlived its connection.
func TestDriverOpenClosesItsCache(t *testing.T) {
	t.Parallel()
	rdb, ns := testenv.Redis(t), namespace(t)
	d, err := cachedsql.WrapDriver(&sqlite3.SQLiteDriver{}, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: cacheAll(t)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "open.db")
	const n = 5
	var conns []driver.Conn
	pprof.Do(context.Background(), pprof.Labels("test", t.Name()), func(context.Context) {
		for range n {
			c, err := d.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
	})
	// A watch loop is counted once its goroutine has begun to run.
	eventually(t, "a watch loop per connection's cache", func() bool { return watches(t) == n })
	q := conns[0].(driver.QueryerContext)
	rows, err := q.QueryContext(context.Background(), "SELECT 1", nil)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, c := range conns {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	conns[0].Close() // a second Close does not close the cache twice
	deadline := time.Now().Add(10 * time.Second)
	for watches(t) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := watches(t); got > 0 {
		t.Errorf("%d watch loops after every connection closed: the caches outlived their connections", got)
	}
}
