package cachedsql

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/keying"
)

// QueryStat holds the statistics of the statements of one digest in one database: statements that
// differ only in their literals, or in the length of an IN list ([keying.DigestOf]). [Admin.QueryStats]
// returns the sums over every process that shares a Redis; [QueryStatsOf] those of one process.
type QueryStat struct {
	// Database is the database the statements ran on.
	Database DatabaseID
	// Fingerprint is the digest's fingerprint (16 hex digits), or [keying.StatsOverflow] for the
	// statements counted together past the bound on digests.
	Fingerprint string
	// Text is the digest's text: the normalized statement with its literals written as "?" and its IN
	// lists as "(?)"; it holds no literal.
	Text string
	// Exact reports that every statement counted had no literal replaced: Text is their normalized
	// text, which a rule's match.sql can name.
	Exact bool
	// Rule is the name of the first rule matching the statements, as last reported ("" if none).
	Rule string
	// Tables are the tables the statements read.
	Tables []string
	// Calls counts the reads; Hits, Misses and Stale those served from the cache, loaded from the
	// database under a rule, and served past their TTL; Bypasses those that went straight to the
	// database, by reason.
	Calls, Hits, Misses, Stale int64
	Bypasses                   map[BypassReason]int64
	// Queries counts the queries sent to the database (the loads of misses, and bypasses; background
	// refreshes are left out), DBTime sums their time, and DBP50 and DBP99 are its percentiles. A
	// bypass's time runs until its rows are closed (see [QueryEvent]).
	Queries              int64
	DBTime, DBP50, DBP99 time.Duration
	// HitTime sums the time of hits, HitP50 and HitP99 are its percentiles.
	HitTime, HitP50, HitP99 time.Duration
	// Rows and Bytes sum the rows the queries returned and the encoded size of the results loaded.
	Rows, Bytes int64
	// Since is when the store started counting (zero from [QueryStatsOf]).
	Since time.Time
}

// setQuantiles sets the percentiles from the histograms of database and hit time.
func (q *QueryStat) setQuantiles(db, hit []int64) {
	q.DBP50, q.DBP99 = quantile(db, 0.5), quantile(db, 0.99)
	q.HitP50, q.HitP99 = quantile(hit, 0.5), quantile(hit, 0.99)
}

// HitRatio returns the share of the reads served from the cache (hits and stale copies), 0 with no reads.
func (q QueryStat) HitRatio() float64 {
	if q.Calls == 0 {
		return 0
	}
	return float64(q.Hits+q.Stale) / float64(q.Calls)
}

// MeanDBTime returns the mean time of a query sent to the database, 0 with none.
func (q QueryStat) MeanDBTime() time.Duration {
	if q.Queries == 0 {
		return 0
	}
	return q.DBTime / time.Duration(q.Queries)
}

// Saved returns the database time the cache saved: the reads served from the cache times the mean
// database time of the statement.
func (q QueryStat) Saved() time.Duration {
	return time.Duration(q.Hits+q.Stale) * q.MeanDBTime()
}

// TableWrites counts the writes to one table of one database, as the statistics saw them.
type TableWrites struct {
	Database DatabaseID
	// Table is the table's name as the store keys it; "*" counts the writes that invalidated the
	// whole database, "*other" those to tables past the bound of one process.
	Table  string
	Writes int64
	// Since is when the store started counting.
	Since time.Time
}

// QueryStatsOf returns the statistics this process keeps of the reads through db, by digest, sorted
// by [QueryStat.Saved] then database time, and false if db was not opened through this package or
// keeps no statistics (see [Options].QueryStatsInterval). They are cumulative since db was opened.
func QueryStatsOf(db *sql.DB) ([]QueryStat, bool) {
	d, ok := db.Driver().(*connectorDriver)
	if !ok || d.eng.qstats == nil {
		return nil, false
	}
	var id DatabaseID
	if d.eng.id.resolved.Load() {
		id = DatabaseID(d.eng.layout.Database())
	}
	var out []QueryStat
	for _, s := range d.eng.qstats.snapshot() {
		out = append(out, s.statOf(id))
	}
	sortQueryStats(out)
	return out, true
}

// sortQueryStats sorts by database time saved, then by database time, then by fingerprint.
func sortQueryStats(qs []QueryStat) {
	slices.SortFunc(qs, func(a, b QueryStat) int {
		return cmp.Or(cmp.Compare(b.Saved(), a.Saved()), cmp.Compare(b.DBTime, a.DBTime),
			cmp.Compare(a.Database, b.Database), cmp.Compare(a.Fingerprint, b.Fingerprint))
	})
}

// QueryStats returns the statistics of the database db (or of every database with [AllDatabases])
// that the processes sharing this Redis have merged into it, by digest, sorted by [QueryStat.Saved]
// then by database time. Each process adds its figures every [Options].QueryStatsInterval and when
// it closes; a database lists at most 1000 digests (those updated last), and the figures of a digest
// expire a day after its last update.
func (a *Admin) QueryStats(ctx context.Context, db DatabaseID) ([]QueryStat, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	var out []QueryStat
	err := a.statsDatabases(ctx, db, func(l statsKeys, id DatabaseID) error {
		digests, err := a.rdb.ZRevRange(ctx, l.StatsIndex(), 0, -1).Result()
		if err != nil {
			return err
		}
		digests = append(digests, keying.StatsOverflow)
		pipe := a.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(digests))
		for i, d := range digests {
			cmds[i] = pipe.HGetAll(ctx, l.Stats(d))
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return err
		}
		for i, c := range cmds {
			if m := c.Val(); len(m) > 0 {
				out = append(out, parseQueryStat(id, digests[i], m))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cachedsql: query statistics: %w", err)
	}
	sortQueryStats(out)
	return out, nil
}

// TableWrites returns the writes per table of the database db (or of every database with
// [AllDatabases]) that the processes sharing this Redis have merged into it, most written first.
func (a *Admin) TableWrites(ctx context.Context, db DatabaseID) ([]TableWrites, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	var out []TableWrites
	err := a.statsDatabases(ctx, db, func(l statsKeys, id DatabaseID) error {
		m, err := a.rdb.HGetAll(ctx, l.StatsWrites()).Result()
		if err != nil {
			return err
		}
		since := unixField(m[fieldSince])
		for f, v := range m {
			if t, ok := strings.CutPrefix(f, prefixTable); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out = append(out, TableWrites{Database: id, Table: t, Writes: n, Since: since})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cachedsql: table writes: %w", err)
	}
	slices.SortFunc(out, func(x, y TableWrites) int {
		return cmp.Or(cmp.Compare(y.Writes, x.Writes), cmp.Compare(x.Database, y.Database), cmp.Compare(x.Table, y.Table))
	})
	return out, nil
}

// statsKeys names the statistics keys of one database, as keying.Layout does (Admin knows databases by
// their id only, not by the identity a Layout is built from).
type statsKeys struct{ prefix string }

func (k statsKeys) StatsIndex() string         { return k.prefix }
func (k statsKeys) Stats(digest string) string { return k.prefix + ":" + digest }
func (k statsKeys) StatsWrites() string        { return k.prefix + ":w" }

// statsDatabases calls fn with the statistics keys of each database selected by db that has
// statistics (found by SCAN).
func (a *Admin) statsDatabases(ctx context.Context, db DatabaseID, fn func(statsKeys, DatabaseID) error) error {
	var dbs []string
	err := a.scan(ctx, keying.KeyStats, func(key string, name keying.KeyName) {
		if db.matches(name.Database) && (name.Digest == "" || name.Digest == "w") {
			dbs = append(dbs, name.Database)
		}
	})
	if err != nil {
		return err
	}
	slices.Sort(dbs)
	for _, d := range slices.Compact(dbs) {
		if err := fn(statsKeys{a.ns.KindPrefix(keying.KeyStats) + d}, DatabaseID(d)); err != nil {
			return err
		}
	}
	return nil
}

// parseQueryStat reads the statistics hash m of the digest digest of the database id.
func parseQueryStat(id DatabaseID, digest string, m map[string]string) QueryStat {
	num := func(f string) int64 {
		n, _ := strconv.ParseInt(m[f], 10, 64)
		return n
	}
	q := QueryStat{Database: id, Fingerprint: digest, Text: m[fieldText], Exact: m[fieldExact] == "1",
		Rule: m[fieldRule], Calls: num(fieldCalls), Hits: num(fieldHits), Misses: num(fieldMisses),
		Stale: num(fieldStale), Queries: num(fieldQueries), DBTime: time.Duration(num(fieldDBTime)),
		HitTime: time.Duration(num(fieldHitTime)), Rows: num(fieldRows), Bytes: num(fieldBytes),
		Since: unixField(m[fieldSince])}
	if digest == keying.StatsOverflow {
		q.Text = overflowText
	}
	if t := m[fieldTables]; t != "" {
		q.Tables = strings.Split(t, ",")
	}
	db, hit := make([]int64, qsBuckets), make([]int64, qsBuckets)
	for f, v := range m {
		switch {
		case strings.HasPrefix(f, prefixBypass):
			if r, ok := bypassByName[f[len(prefixBypass):]]; ok {
				if q.Bypasses == nil {
					q.Bypasses = make(map[BypassReason]int64)
				}
				q.Bypasses[r], _ = strconv.ParseInt(v, 10, 64)
			}
		case strings.HasPrefix(f, prefixDBHist):
			bucketField(db, f[len(prefixDBHist):], v)
		case strings.HasPrefix(f, prefixHitHist):
			bucketField(hit, f[len(prefixHitHist):], v)
		}
	}
	q.setQuantiles(db, hit)
	return q
}

// bucketField adds the count v to the bucket named i of h; a bucket out of range is ignored.
func bucketField(h []int64, i, v string) {
	b, err := strconv.Atoi(i)
	if err != nil || b < 0 || b >= len(h) {
		return
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	h[b] += n
}

// unixField reads a time written as Unix seconds; zero if it is not one.
func unixField(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// bypassByName maps the name of each bypass reason to the reason.
var bypassByName = func() map[string]BypassReason {
	m := make(map[string]BypassReason, numBypassReasons)
	for r := BypassReason(1); r < numBypassReasons; r++ {
		m[r.String()] = r
	}
	return m
}()
