package cachedsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"slices"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// BenchmarkQueryStats measures what per-statement statistics add to a read, below database/sql (the
// driver connection's QueryContext, Next and Close on the SQLite primary-key query): a hit from the
// in-process store, a hit from Redis, and a read no rule matches (a bypass, whose database time is then
// measured). Each iteration reads once with statistics off and once with them on, in alternating
// order, so that both see the same load; it reports the median of each and the median of their
// differences (on − off, per pair), besides ns/op for the pair.
func BenchmarkQueryStats(b *testing.B) {
	ctx := context.Background()
	rdb, ns := testenv.Redis(b), namespace(b)
	const q = `SELECT id, name, score, born, avatar FROM users WHERE id = ?`
	none := mustRules(b, cachedsql.Rule{Name: "other", Match: cachedsql.Match{QueryName: "Other"}})
	cases := []struct {
		name    string
		off, on cachedsql.Options
	}{
		{"memory-hit", cachedsql.Options{}, cachedsql.Options{QueryStatsInterval: time.Minute}},
		{"redis-hit", cachedsql.Options{Redis: rdb, Namespace: ns, QueryStatsInterval: -1}, cachedsql.Options{Redis: rdb, Namespace: ns}},
		{"norule", cachedsql.Options{Rules: none}, cachedsql.Options{Rules: none, QueryStatsInterval: time.Minute}},
	}
	args := []driver.NamedValue{{Ordinal: 1, Value: int64(1)}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			_, off := openSQLite(b, c.off)
			_, on := openSQLite(b, c.on)
			var offs, ons, diffs []time.Duration
			withDriverReaders(b, ctx, off, on, q, args, func(readOff, readOn func()) {
				readOff()
				readOn()
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					first, second := readOff, readOn
					if i%2 == 1 {
						first, second = readOn, readOff
					}
					t0 := time.Now()
					first()
					t1 := time.Now()
					second()
					t2 := time.Now()
					dOff, dOn := t1.Sub(t0), t2.Sub(t1)
					if i%2 == 1 {
						dOff, dOn = dOn, dOff
					}
					offs, ons, diffs = append(offs, dOff), append(ons, dOn), append(diffs, dOn-dOff)
				}
			})
			b.ReportMetric(float64(median(offs)), "off-ns/read")
			b.ReportMetric(float64(median(ons)), "on-ns/read")
			b.ReportMetric(float64(median(diffs)), "added-ns/read")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// withDriverReaders calls fn with two functions that read query through a driver connection of db1
// and of db2 (inside sql.Conn.Raw, where the driver connections may be used).
func withDriverReaders(b *testing.B, ctx context.Context, db1, db2 *sql.DB, query string, args []driver.NamedValue, fn func(read1, read2 func())) {
	reader := func(dc any) func() {
		qc := dc.(driver.QueryerContext)
		dest := make([]driver.Value, 5)
		return func() {
			rows, err := qc.QueryContext(ctx, query, args)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next(dest) == nil {
				sinkRows++
			}
			rows.Close()
		}
	}
	c1, err := db1.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c1.Close()
	c2, err := db2.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c2.Close()
	err = c1.Raw(func(dc1 any) error {
		return c2.Raw(func(dc2 any) error {
			fn(reader(dc1), reader(dc2))
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
}
