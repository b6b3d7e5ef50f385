package cachedsql_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// BenchmarkRowMix runs one workload on PostgreSQL and Redis under three rules for the same lookup:
//
//	table          a rule without Key: results are cached whole, any write to items invalidates them all
//	row            a row rule: a write pinned to an id invalidates that row's entry only
//	write-through  the row rule with WriteThrough: the write stores the row it wrote before returning
//
// The mix, from one goroutine, on a table of rowMixRows items: each op draws an id from a Zipf
// distribution (fixed seed, so every mode sees the same sequence of ids, reads and writes) and either
// reads that item through the wrapper (9 ops in 10) or adds one to its v. Each read is followed by a
// raw GET of a small key (get-ns): the floor of one Redis round trip, measured under the same
// conditions. ns/op is the mean op including those GETs and the Stats snapshots taken around each read,
// so read the metrics instead.
//
// Read-after-write is measured after the mix, untimed by the benchmark itself, so that its reads do not
// refill entries the mix would otherwise miss: as many writes as the mix made (ids from another fixed
// Zipf sequence), each followed at once by a read of the same item.
//
//	hit-ratio        hits / mix reads, from Stats deltas around each read
//	model-hit-ratio  the hit ratio a model of the rule predicts for the same sequence: a read caches its
//	                 id; a write drops every id (table), its own id (row) or caches it (write-through)
//	read-ns          mean mix read, hits and misses together (hit-read-ns and miss-read-ns apart)
//	write-ns         mean mix UPDATE, its invalidation or write-through included
//	raw-ns           mean read-after-write
//	raw-hit-ratio    hits / reads-after-write
//	get-ns           mean raw GET
//
//	go test -run=NONE -bench=BenchmarkRowMix -benchtime=20000x -count=1 .
//
// Every read checks that it sees the item's last committed v, so a stale entry fails the benchmark.

const (
	rowMixRows = 10_000
	// rowMixWarm is how many of the hottest ids (1..rowMixWarm) are read once before measuring.
	rowMixWarm = 1_000
	// rowMixWriteOneIn makes one op in rowMixWriteOneIn a write.
	rowMixWriteOneIn = 10
	// rowMixZipfS is the Zipf exponent (rand.NewZipf with v = 1): with 10,000 keys, id 1 takes about
	// 16% of the draws and ids 1..1000 about 84%.
	rowMixZipfS = 1.1

	itemByID   = `SELECT id, name, v FROM items WHERE id = $1`
	itemUpdate = `UPDATE items SET v = v + 1 WHERE id = $1`
)

var rowMixModes = []struct {
	name         string
	key          []string
	writeThrough bool
}{
	{"table", nil, false},
	{"row", []string{"id"}, false},
	{"write-through", []string{"id"}, true},
}

// BenchmarkRowMix measures hit ratios and read and write latencies of table-level invalidation, row
// rules and write-through under a 90/10 read/write mix with Zipf keys.
func BenchmarkRowMix(b *testing.B) {
	for _, m := range rowMixModes {
		b.Run(m.name, func(b *testing.B) {
			rdb, ns := testenv.Redis(b), namespace(b) // a namespace of its own: an empty cache
			rules := mustRules(b, cachedsql.Rule{Name: "item", Match: cachedsql.Match{SQL: itemByID},
				Key: m.key, TTL: time.Hour, WriteThrough: m.writeThrough}) // no entry expires during a run
			bare, db, _ := pgRedis(b, cachedsql.Options{Redis: rdb, Namespace: ns, Rules: rules})
			seedItems(b, bare) // pgRedis gives a schema of its own: a new table per sub-benchmark
			mx := newRowMix(b, db, rdb, ns+":floor", m.key != nil, m.writeThrough)
			mx.warm()
			wt0 := stats(b, db).WriteThroughs
			for b.Loop() {
				mx.op()
			}
			mx.readsAfterWrites()
			// One write-through per write: the mix's and the reads-after-write's.
			if wt := stats(b, db).WriteThroughs - wt0; m.writeThrough && wt != uint64(2*mx.writes) {
				b.Fatalf("write-throughs: %d for %d writes, want one per write", wt, 2*mx.writes)
			}
			b.ReportMetric(ratio(mx.hits, mx.reads), "hit-ratio")
			b.ReportMetric(ratio(mx.modelHits, mx.reads), "model-hit-ratio")
			b.ReportMetric(meanNs(mx.hitTime+mx.missTime, mx.reads), "read-ns")
			b.ReportMetric(meanNs(mx.hitTime, int(mx.hits)), "hit-read-ns")
			b.ReportMetric(meanNs(mx.missTime, mx.reads-int(mx.hits)), "miss-read-ns")
			b.ReportMetric(meanNs(mx.writeTime, mx.writes), "write-ns")
			b.ReportMetric(meanNs(mx.rawTime, mx.writes), "raw-ns")
			b.ReportMetric(ratio(mx.rawHits, mx.writes), "raw-hit-ratio")
			b.ReportMetric(meanNs(mx.getTime, mx.reads), "get-ns")
		})
	}
}

// seedItems creates items with rowMixRows rows, all with v = 0.
func seedItems(b *testing.B, bare *sql.DB) {
	b.Helper()
	mustExec(b, bare, `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, v bigint NOT NULL)`)
	mustExec(b, bare, fmt.Sprintf(`INSERT INTO items SELECT i, 'item ' || i, 0 FROM generate_series(1, %d) i`, rowMixRows))
	mustExec(b, bare, `ANALYZE items`)
}

// rowMix runs the workload on one cache and adds up what it measures.
type rowMix struct {
	b        *testing.B
	db       *sql.DB
	rdb      *redis.Client
	floorKey string
	rng      *rand.Rand
	zipf     *rand.Zipf
	want     map[int64]int64 // id -> v after the writes so far

	// The model: which ids the rule should have cached, given how a write treats them.
	rowLevel, writeThrough bool
	modelCached            map[int64]bool
	modelHits              uint64

	reads, writes                                  int    // mix reads and mix writes
	hits, rawHits                                  uint64 // hits of mix reads and of reads-after-write
	hitTime, missTime, writeTime, rawTime, getTime time.Duration
}

func newRowMix(b *testing.B, db *sql.DB, rdb *redis.Client, floorKey string, rowLevel, writeThrough bool) *rowMix {
	if err := rdb.Set(context.Background(), floorKey, strings.Repeat("x", 64), 0).Err(); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	return &rowMix{b: b, db: db, rdb: rdb, floorKey: floorKey, rng: rng,
		zipf: rand.NewZipf(rng, rowMixZipfS, 1, rowMixRows-1), want: make(map[int64]int64),
		rowLevel: rowLevel, writeThrough: writeThrough, modelCached: make(map[int64]bool)}
}

// warm reads each of the hottest ids once.
func (mx *rowMix) warm() {
	for id := int64(1); id <= rowMixWarm; id++ {
		mx.read(id)
		mx.modelCached[id] = true
	}
}

// op runs one op of the mix: a write, or a read and a raw GET.
func (mx *rowMix) op() {
	id := int64(mx.zipf.Uint64()) + 1
	if mx.rng.IntN(rowMixWriteOneIn) == 0 {
		mx.writeTime += mx.write(id)
		mx.writes++
		switch {
		case !mx.rowLevel:
			clear(mx.modelCached)
		case mx.writeThrough:
			mx.modelCached[id] = true
		default:
			delete(mx.modelCached, id)
		}
		return
	}
	if mx.modelCached[id] {
		mx.modelHits++
	}
	mx.modelCached[id] = true
	d, hit := mx.read(id)
	if hit {
		mx.hits++
		mx.hitTime += d
	} else {
		mx.missTime += d
	}
	mx.reads++
	t0 := time.Now()
	if _, err := mx.rdb.Get(context.Background(), mx.floorKey).Bytes(); err != nil {
		mx.b.Fatal(err)
	}
	mx.getTime += time.Since(t0)
}

// readsAfterWrites makes as many writes as the mix did, on ids from a Zipf sequence of their own, each
// followed at once by a read of the same item.
func (mx *rowMix) readsAfterWrites() {
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), rowMixZipfS, 1, rowMixRows-1)
	for range mx.writes {
		id := int64(zipf.Uint64()) + 1
		mx.write(id)
		d, hit := mx.read(id)
		mx.rawTime += d
		if hit {
			mx.rawHits++
		}
	}
}

// write adds one to item id's v and returns how long the UPDATE took.
func (mx *rowMix) write(id int64) time.Duration {
	t0 := time.Now()
	mustExec(mx.b, mx.db, itemUpdate, id)
	d := time.Since(t0)
	mx.want[id]++
	return d
}

// read reads item id through itemByID, fails unless it is there with its last written v, and returns
// how long the read took and whether it was a hit (it fails if the read was neither hit nor miss).
func (mx *rowMix) read(id int64) (time.Duration, bool) {
	b := mx.b
	before := stats(b, mx.db)
	var got, v int64
	var name string
	t0 := time.Now()
	err := mx.db.QueryRowContext(context.Background(), itemByID, id).Scan(&got, &name, &v)
	d := time.Since(t0)
	if err != nil {
		b.Fatalf("read item %d: %v", id, err)
	}
	if got != id || v != mx.want[id] {
		b.Fatalf("read item %d: got id %d, v = %d; want v = %d (a stale read)", id, got, v, mx.want[id])
	}
	after := stats(b, mx.db)
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	if hits+misses != 1 {
		b.Fatalf("read item %d: %d hits, %d misses, want one of them (bypasses: %v)", id, hits, misses, after.Bypasses)
	}
	return d, hits == 1
}

func ratio(n uint64, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func meanNs(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / float64(n)
}
