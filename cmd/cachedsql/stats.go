package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

const statsAbout = `
Stats prints the per-statement statistics that the processes sharing a Redis merge into it every 10s
and when they close (see cachedsql.Admin.QueryStats): one line per statement digest (literals written
as "?") and database, sorted by the database time the cache saved, with the rule, hit ratio, calls,
database and hit time percentiles and the normalized text.`

// stats prints the per-statement statistics of a namespace.
func (c *cli) stats(ctx context.Context, args []string) error {
	fs := c.flags("stats", statsAbout)
	fs.String(redisFlag.flag, "", redisUsage)
	fs.String(namespaceFlag.flag, "", namespaceUsage)
	db := fs.String("db", "", "only the database with this id (default: every database)")
	asJSON := fs.Bool("json", false, "print JSON (one array of statements) instead of a table")
	n := fs.Int("n", 50, "statements to list")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	if *n <= 0 {
		return usagef("-n must be positive, got %d", *n)
	}
	o, admin, err := c.adminOf(fs, redisFlag, namespaceFlag)
	if err != nil {
		return err
	}
	defer o.Redis.Close()
	stats, err := admin.QueryStats(ctx, cachedsql.DatabaseID(*db))
	if err != nil {
		return err
	}
	stats = stats[:min(*n, len(stats))]
	if *asJSON {
		return printStatsJSON(c.stdout, stats)
	}
	if len(stats) == 0 {
		fmt.Fprintf(c.stdout, "no statistics under %s* (they are merged every 10s and when a process closes its *sql.DB)\n",
			keying.NewLayout(o.Namespace, "").KindPrefix(keying.KeyStats))
		return nil
	}
	printStats(c.stdout, stats)
	return nil
}

// printStats writes stats as a table.
func printStats(out io.Writer, stats []cachedsql.QueryStat) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SAVED\tDB TIME\tCALLS\tHIT%\tDB p50\tDB p99\tHIT p50\tHIT p99\tDATABASE\tRULE\tQUERY")
	for _, q := range stats {
		rule := q.Rule
		if rule == "" {
			rule = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dur(q.Saved()), dur(q.DBTime), q.Calls,
			100*q.HitRatio(), dur(q.DBP50), dur(q.DBP99), dur(q.HitP50), dur(q.HitP99), q.Database, rule, oneLine(q.Text))
	}
	w.Flush()
}

// dur formats d for a table: "-" for none, else three significant digits.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// oneLine returns s with its line breaks and tabs as spaces (a string literal may hold them), so that
// each statement stays on one line of the table.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "\t", " ").Replace(s)
}

// statJSON is one statement of `cachedsql stats -json`; durations are in nanoseconds.
type statJSON struct {
	Database     string           `json:"database"`
	Fingerprint  string           `json:"fingerprint"`
	Text         string           `json:"text"`
	Exact        bool             `json:"exact"`
	Rule         string           `json:"rule"`
	Tables       []string         `json:"tables"`
	Calls        int64            `json:"calls"`
	Hits         int64            `json:"hits"`
	Misses       int64            `json:"misses"`
	Stale        int64            `json:"stale"`
	Bypasses     map[string]int64 `json:"bypasses"`
	HitRatio     float64          `json:"hit_ratio"`
	Queries      int64            `json:"queries"`
	SavedNanos   int64            `json:"saved_ns"`
	DBTimeNanos  int64            `json:"db_time_ns"`
	DBP50Nanos   int64            `json:"db_p50_ns"`
	DBP99Nanos   int64            `json:"db_p99_ns"`
	HitTimeNanos int64            `json:"hit_time_ns"`
	HitP50Nanos  int64            `json:"hit_p50_ns"`
	HitP99Nanos  int64            `json:"hit_p99_ns"`
	Rows         int64            `json:"rows"`
	Bytes        int64            `json:"bytes"`
	Since        time.Time        `json:"since"`
}

// printStatsJSON writes stats as one JSON array.
func printStatsJSON(out io.Writer, stats []cachedsql.QueryStat) error {
	list := make([]statJSON, len(stats))
	for i, q := range stats {
		by := make(map[string]int64, len(q.Bypasses))
		for r, n := range q.Bypasses {
			by[r.String()] = n
		}
		list[i] = statJSON{Database: string(q.Database), Fingerprint: q.Fingerprint, Text: q.Text, Exact: q.Exact,
			Rule: q.Rule, Tables: q.Tables, Calls: q.Calls, Hits: q.Hits, Misses: q.Misses, Stale: q.Stale,
			Bypasses: by, HitRatio: q.HitRatio(), Queries: q.Queries, SavedNanos: int64(q.Saved()),
			DBTimeNanos: int64(q.DBTime), DBP50Nanos: int64(q.DBP50), DBP99Nanos: int64(q.DBP99),
			HitTimeNanos: int64(q.HitTime), HitP50Nanos: int64(q.HitP50), HitP99Nanos: int64(q.HitP99),
			Rows: q.Rows, Bytes: q.Bytes, Since: q.Since}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}
