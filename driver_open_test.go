package cachedsql_test

import (
	"context"
	"database/sql/driver"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// watches counts the running watch loops of caches in this process (one per cache on Redis).
func watches() int {
	buf := make([]byte, 1<<22)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "strategies.(*Watch).loop")
}

// A connection opened with the wrapping driver's Open, outside any *sql.DB, has a cache of its own,
// which its Close closes. Before the fix every such cache's background work (the watch of the processes
// sharing Redis, here) outlived its connection. Not parallel: it counts the process's goroutines.
func TestDriverOpenClosesItsCache(t *testing.T) {
	rdb, ns := testenv.Redis(t), namespace(t)
	d, err := cachedsql.WrapDriver(&sqlite3.SQLiteDriver{}, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: cacheAll(t)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "open.db")
	base := watches()
	const n = 5
	var conns []driver.Conn
	for range n {
		c, err := d.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if got := watches(); got != base+n {
		t.Fatalf("%d watch loops with %d connections open, %d before: want one per connection's cache", got, n, base)
	}
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
	for watches() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := watches(); got > base {
		t.Errorf("%d watch loops after every connection closed, %d before: the caches outlived their connections", got, base)
	}
}
