package cachedsql_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// Stampede benchmarks, in one process (the 4-process figures come from TestStampedeMultiProcFigures,
// run with CACHEDSQL_BENCH=1):
//
//	go test -run=NONE -bench=Stampede -benchtime=3x .
//
// BenchmarkStampedeColdMiss: each op is K concurrent misses of a new key whose query takes 50ms. It
// reports the database executions per op and the p50/p99 wait of the K callers.
//
// BenchmarkStampedeExpiry: each op is one expiry of a hot key read at a steady rate (8 readers, each
// every 10ms, TTL 1s, query 50ms). It reports, per expiry, the misses, the database executions
// (recomputes) and the reads that waited on the database. Use -benchtime=Nx: an op lasts a TTL.

// coldMissK is how many callers miss each key together.
const coldMissK = 100

// coldMissConns is the connection pool of the benchmark's *sql.DB: it bounds the queries that can
// run at once without single flight.
const coldMissConns = 16

// BenchmarkStampedeColdMiss measures K concurrent misses of a cold key with and without leases and
// single flight.
func BenchmarkStampedeColdMiss(b *testing.B) {
	for _, bc := range []struct {
		name             string
		noLease, noDedup bool
	}{
		{"lease", false, false},
		{"nolease", true, false},
		{"nodedup-lease", false, true},
		{"nodedup-nolease", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := stampedeQuery(0.05)
			dsn, bare := createStampedeSchema(b, q)
			opts := cachedsql.Options{
				Redis:     testenv.Redis(b),
				Namespace: strings.TrimSuffix(testenv.Prefix(b), ":"),
				Rules: mustRules(b, cachedsql.Rule{Name: "cold", Match: cachedsql.Match{Default: true}, DependsOn: noTables,
					TTL: time.Minute, NoLease: bc.noLease, LockWait: 15 * time.Second}),
				StoreTimeout: 10 * time.Second,
			}
			if bc.noDedup {
				cachedsql.NoDedup(&opts)
			}
			db, err := cachedsql.Open("pgx", dsn, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			warmPool(b, db, coldMissConns)
			lat := make([]time.Duration, 0, b.N*coldMissK)
			b.ResetTimer()
			for i := range b.N {
				lat = append(lat, missTogether(b, db, q, i+1)...)
			}
			b.StopTimer()
			b.ReportMetric(float64(execCount(b, bare, 1, b.N))/float64(b.N), "db-execs/op")
			b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
			b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
		})
	}
}

// missTogether reads key k from coldMissK goroutines released together, and returns their waits.
func missTogether(b *testing.B, db *sql.DB, q string, k int) []time.Duration {
	s := readStampede(db, stampedeConfig{Query: q, Key: k, Goroutines: coldMissK})
	if s.Errors > 0 {
		b.Fatalf("%d of %d reads failed; first: %s", s.Errors, s.Reads, s.FirstError)
	}
	return s.Latencies
}

// BenchmarkStampedeExpiry measures a hot key's expiries under steady load with a plain TTL, XFetch
// and refresh-ahead.
func BenchmarkStampedeExpiry(b *testing.B) {
	for _, m := range expiryModes {
		b.Run(m.name, func(b *testing.B) {
			r := runExpiryLoad(b, m, expiryLoad{ttl: time.Second, expiries: b.N, readers: 8, every: 10 * time.Millisecond})
			n := float64(b.N)
			b.ReportMetric(float64(r.misses)/n, "misses/expiry")
			b.ReportMetric(float64(r.execs)/n, "recomputes/expiry")
			b.ReportMetric(float64(r.slow)/n, "slow-reads/expiry")
			b.ReportMetric(ms(r.p99), "p99-ms")
		})
	}
}
