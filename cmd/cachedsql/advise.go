package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

const adviseAbout = `
Advise reads the per-statement statistics of a namespace (see cachedsql stats) and tells, for each
statement no rule caches, whether caching it would pay on this store: it ranks them by the database
time they cost (calls × mean time), weighs what a hit would save against what a hit costs on this
store (the observed hit p50, else a measured round trip, or -hit-cost), and against how often their
tables are written. It prints a rule file whose comments give the reasoning, with a rule for each
statement worth caching. Run the application with Redis and no rules first.`

// advise prints a rule file to start from, with the reasoning as comments.
func (c *cli) advise(ctx context.Context, args []string) error {
	fs := c.flags("advise", adviseAbout)
	fs.String(redisFlag.flag, "", redisUsage)
	fs.String(namespaceFlag.flag, "", namespaceUsage)
	db := fs.String("db", "", "only the database with this id (default: every database)")
	hitCost := fs.Duration("hit-cost", 0, "what a hit costs on this store (default: the observed hit p50, else a measured round trip)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	if *hitCost < 0 {
		return usagef("-hit-cost must not be negative, got %v", *hitCost)
	}
	o, admin, err := c.adminOf(fs, redisFlag, namespaceFlag)
	if err != nil {
		return err
	}
	defer o.Redis.Close()
	out, rdb, ns := c.stdout, o.Redis, o.Namespace
	stats, err := admin.QueryStats(ctx, cachedsql.DatabaseID(*db))
	if err != nil {
		return err
	}
	writes, err := admin.TableWrites(ctx, cachedsql.DatabaseID(*db))
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(out, "# cachedsql advise, %s: namespace %s\n", now.UTC().Format(time.RFC3339), nsName(ns))
	if len(stats) == 0 {
		fmt.Fprintf(out, "# no statistics under %s*: run the application with Redis (no rules needed) first;\n"+
			"# a process adds its figures every 10s and when it closes its *sql.DB.\n",
			keying.NewLayout(ns, "").KindPrefix(keying.KeyStats))
		return nil
	}
	var rules []ruleOut
	for _, id := range databasesOf(stats) {
		cost := hitCostOf(stats, id, *hitCost)
		if cost.d == 0 {
			if cost, err = measureHitCost(ctx, rdb, ns); err != nil {
				return err
			}
		}
		rules = append(rules, adviseDatabase(out, id, stats, writes, cost, now)...)
	}
	printRules(out, rules)
	return nil
}

func nsName(ns string) string { return cmp.Or(ns, keying.DefaultNamespace) }

// databasesOf returns the databases of stats, sorted.
func databasesOf(stats []cachedsql.QueryStat) []cachedsql.DatabaseID {
	var ids []cachedsql.DatabaseID
	for _, q := range stats {
		ids = append(ids, q.Database)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// cost is what a hit costs on the store, and how it was found.
type cost struct {
	d   time.Duration
	how string
}

// minObservedHits is how many hits a database needs for its observed hit time to stand for a hit's cost.
const minObservedHits = 20

// hitCostOf returns the cost of a hit on the store of database id: given (when positive), else the
// median of the hit time p50 of its statements weighted by their hits, when they have enough hits;
// else zero (to be measured).
func hitCostOf(stats []cachedsql.QueryStat, id cachedsql.DatabaseID, given time.Duration) cost {
	if given > 0 {
		return cost{given, "given with -hit-cost"}
	}
	type p50 struct {
		d    time.Duration
		hits int64
	}
	var ps []p50
	var hits int64
	for _, q := range stats {
		if q.Database == id && q.Hits > 0 {
			ps = append(ps, p50{q.HitP50, q.Hits})
			hits += q.Hits
		}
	}
	if hits < minObservedHits {
		return cost{}
	}
	slices.SortFunc(ps, func(a, b p50) int { return cmp.Compare(a.d, b.d) })
	var seen int64
	for _, p := range ps {
		if seen += p.hits; 2*seen >= hits {
			return cost{p.d, fmt.Sprintf("observed: median hit time of %d hits on this store", hits)}
		}
	}
	return cost{}
}

// Measuring a hit's cost when no hit was observed: the median of probeHits hits of a one-row
// statement through cachedsql on this store (hashing, the pipelined round trip for the entry and its
// token, decoding), as the library's Observer times them, in a throwaway namespace flushed afterwards.
const (
	probeHits = 21
	// memoryHit is what a hit costs in the in-process memory store (BENCHMARKS.md: 2.75–5.4µs through
	// database/sql).
	memoryHit = 3 * time.Microsecond
)

// hitTimes is the Observer of the probe: it records the time of each hit.
type hitTimes struct {
	mu   sync.Mutex
	hits []time.Duration
}

func (h *hitTimes) ObserveRead(_ context.Context, ev cachedsql.ReadEvent) {
	if ev.Outcome == cachedsql.OutcomeHit {
		h.mu.Lock()
		h.hits = append(h.hits, ev.Duration)
		h.mu.Unlock()
	}
}

// measureHitCost measures what a hit costs on the Redis rdb reaches, through an in-memory SQLite
// database cached there under a namespace of its own (nested in ns), which it deletes afterwards.
func measureHitCost(ctx context.Context, rdb redis.UniversalClient, ns string) (cost, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	probeNS := nsName(ns) + ":advise-probe-" + hex.EncodeToString(b[:])
	rules, err := cachedsql.NewRules(cachedsql.Rule{Name: "probe", Match: cachedsql.Match{Default: true}, TTL: time.Minute})
	if err != nil {
		return cost{}, err
	}
	obs := &hitTimes{}
	db, err := cachedsql.Open("sqlite3", ":memory:", cachedsql.Options{Redis: rdb, Namespace: probeNS, Rules: rules,
		Observer: obs, QueryStatsInterval: -1})
	if err != nil {
		return cost{}, fmt.Errorf("advise: measuring a hit: %w", err)
	}
	defer func() {
		db.Close()
		_, _ = cachedsql.NewAdmin(rdb, probeNS).Flush(context.WithoutCancel(ctx))
	}()
	for range probeHits + 1 { // a miss, then hits
		var n int64
		var s string
		if err := db.QueryRowContext(ctx, `SELECT ?, 'a short text'`, 7).Scan(&n, &s); err != nil {
			return cost{}, fmt.Errorf("advise: measuring a hit: %w", err)
		}
	}
	obs.mu.Lock()
	hits := slices.Clone(obs.hits)
	obs.mu.Unlock()
	if len(hits) < probeHits/2 {
		return cost{}, fmt.Errorf("advise: measuring a hit: %d of %d reads were hits (is the store failing?)", len(hits), probeHits)
	}
	slices.Sort(hits)
	return cost{hits[len(hits)/2], fmt.Sprintf(
		"measured: no hits observed; median of %d hits of a one-row statement through cachedsql on this store", len(hits))}, nil
}

// verdict is the advice on one statement.
type verdict struct {
	q        cachedsql.QueryStat
	cache    bool
	reasons  []string
	maxHit   float64       // the highest hit ratio its tables' writes allow
	saving   time.Duration // estimated over the period the statistics cover (negative: a loss)
	readRate float64       // reads per second
}

// writeRates returns the writes per second of each table of database id.
func writeRates(writes []cachedsql.TableWrites, id cachedsql.DatabaseID, now time.Time) map[string]float64 {
	m := make(map[string]float64)
	for _, w := range writes {
		if w.Database == id {
			m[w.Table] = float64(w.Writes) / seconds(now.Sub(w.Since))
		}
	}
	return m
}

// seconds returns d in seconds, at least one (counts start at whole seconds).
func seconds(d time.Duration) float64 { return max(d.Seconds(), 1) }

// judge decides whether caching q pays, given what a hit costs and the write rates of the tables.
func judge(q cachedsql.QueryStat, hit cost, wrates map[string]float64, now time.Time) verdict {
	v := verdict{q: q, readRate: float64(q.Calls) / seconds(now.Sub(q.Since))}
	wrate := wrates["*"] // writes that invalidate the whole database
	var written []string
	for _, t := range q.Tables {
		if r := wrates[t]; r > 0 {
			wrate += r
			written = append(written, fmt.Sprintf("%s %.3g/s", t, r))
		}
	}
	// Each write makes at least the next read of an entry a miss: at most 1 − writes/reads of the
	// reads can be hits (fewer when the reads spread over many arguments).
	v.maxHit = min(max(1-wrate/v.readRate, 0), 1)
	mean := q.MeanDBTime()
	// Every read pays a lookup; a miss also pays a fill.
	perRead := v.maxHit*float64(mean) - (2-v.maxHit)*float64(hit.d)
	v.saving = time.Duration(perRead * float64(q.Calls))
	v.cache = true
	if q.DBP50 <= hit.d {
		v.cache = false
		why := fmt.Sprintf("the database answers in %s (p50); a hit on this store costs %s: caching it there costs more than it saves", dur(q.DBP50), dur(hit.d))
		if q.DBP50 > 2*memoryHit {
			why += fmt.Sprintf(". An in-process memory store (no Options.Redis; about %s a hit) would pay, for one process only: it is not shared", dur(memoryHit))
		} else {
			why += ", even in process memory"
		}
		v.reasons = append(v.reasons, why)
	}
	if wrates["*"] > 0 {
		written = append(written, fmt.Sprintf("the whole database %.3g/s", wrates["*"]))
	}
	if v.maxHit < 0.5 {
		v.cache = false
		v.reasons = append(v.reasons, fmt.Sprintf("written too often: its tables are written %.2g× as often as it is read (%s, for %.3g reads/s): at most %.0f%% of its reads could be hits",
			wrate/v.readRate, strings.Join(written, ", "), v.readRate, 100*v.maxHit))
	} else if v.maxHit < 0.9 {
		v.reasons = append(v.reasons, fmt.Sprintf("its tables are written often (%s): at most %.0f%% of its reads could be hits",
			strings.Join(written, ", "), 100*v.maxHit))
	}
	if v.cache && v.saving <= 0 {
		v.cache = false
		v.reasons = append(v.reasons, "the lookups and fills would cost more than the hits save")
	}
	return v
}

// uncached reports whether no rule caches q's statements: they bypass the cache for want of a rule (a
// statement a disabled rule matches was excluded on purpose, and a later rule would not reach it).
func uncached(q cachedsql.QueryStat) bool {
	return q.Hits+q.Misses+q.Stale == 0 && q.Bypasses[cachedsql.BypassNoRule] > 0
}

// adviseDatabase prints, as comments, the advice for the statements of database id, and returns the
// rules it recommends.
func adviseDatabase(out io.Writer, id cachedsql.DatabaseID, stats []cachedsql.QueryStat, writes []cachedsql.TableWrites,
	hit cost, now time.Time) []ruleOut {
	wrates := writeRates(writes, id, now)
	var cands, cached []verdict
	other := map[string]int64{}
	for _, q := range stats {
		switch {
		case q.Database != id || q.Fingerprint == keying.StatsOverflow:
		case uncached(q) && q.Queries > 0:
			cands = append(cands, judge(q, hit, wrates, now))
		case q.Hits+q.Misses+q.Stale > 0:
			cached = append(cached, judge(q, hit, wrates, now))
		default:
			for r, n := range q.Bypasses {
				other[r.String()] += n
			}
		}
	}
	slices.SortFunc(cands, func(a, b verdict) int {
		return cmp.Or(cmp.Compare(b.q.DBTime, a.q.DBTime), cmp.Compare(a.q.Fingerprint, b.q.Fingerprint))
	})
	fmt.Fprintf(out, "#\n# database %s: a hit costs %s (%s)\n", id, dur(hit.d), hit.how)
	fmt.Fprintf(out, "#\n# Statements no rule caches, by database time (calls × mean time):\n")
	if len(cands) == 0 {
		fmt.Fprintf(out, "#   none\n")
	}
	var rules []ruleOut
	for i, v := range cands {
		tag := "do not cache"
		if v.cache {
			if r := ruleFor(v.q); len(r.value) <= maxPatternBytes {
				rules = append(rules, r)
				tag = "CACHE (rule " + r.name + ")"
			} else {
				tag = "CACHE (no rule printed: its literals would make too long a regexp; write one with match.query_name or match.sql)"
			}
		}
		fmt.Fprintf(out, "#\n# %d. %s: %s\n", i+1, tag, oneLine(v.q.Text))
		fmt.Fprintf(out, "#    %d calls (%.3g/s), database p50 %s p99 %s, %s in all; tables %s\n", v.q.Calls, v.readRate,
			dur(v.q.DBP50), dur(v.q.DBP99), dur(v.q.DBTime), cmp.Or(strings.Join(v.q.Tables, ", "), "none"))
		if v.cache {
			fmt.Fprintf(out, "#    would save about %s of database time over these calls (at most %.0f%% hits)\n", dur(v.saving), 100*v.maxHit)
		}
		for _, why := range v.reasons {
			fmt.Fprintf(out, "#    %s\n", why)
		}
	}
	for _, v := range cached {
		if v.q.DBP50 > 0 && v.q.HitP50 >= v.q.DBP50 || v.maxHit < 0.5 {
			fmt.Fprintf(out, "#\n# Cached under rule %s, and it does not pay: %s\n", cmp.Or(v.q.Rule, "?"), oneLine(v.q.Text))
			fmt.Fprintf(out, "#    hit p50 %s, database p50 %s, hit ratio %.0f%%\n", dur(v.q.HitP50), dur(v.q.DBP50), 100*v.q.HitRatio())
			for _, why := range v.reasons {
				fmt.Fprintf(out, "#    %s\n", why)
			}
		}
	}
	if len(other) > 0 {
		var parts []string
		for r, n := range other {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
		slices.Sort(parts)
		fmt.Fprintf(out, "#\n# Not considered (no rule can cache them): reads bypassed for %s\n", strings.Join(parts, ", "))
	}
	return rules
}

// ruleOut is a recommended rule.
type ruleOut struct {
	name, field, value string
}

// ruleFor returns the rule that caches q's statements: match.sql when its text is exactly theirs,
// otherwise match.regexp on their normalized text with any literal where the digest has one.
func ruleFor(q cachedsql.QueryStat) ruleOut {
	base := "query"
	if len(q.Tables) > 0 && strings.Trim(q.Tables[0], "abcdefghijklmnopqrstuvwxyz0123456789_") == "" {
		base = q.Tables[0]
	}
	r := ruleOut{name: base + "-" + q.Fingerprint[:8], field: "sql", value: q.Text}
	if !q.Exact {
		r.field, r.value = "regexp", keying.DigestPattern(q.Text)
	}
	return r
}

// maxPatternBytes bounds the regexp of a recommended rule: a rule's regexp is matched against every new
// statement text, in time that grows with its size (a statement with dozens of literals).
const maxPatternBytes = 8 << 10

// printRules writes the rule file of rules; with none, a comment saying so (a rule file needs a rule).
func printRules(out io.Writer, rules []ruleOut) {
	if len(rules) == 0 {
		fmt.Fprintf(out, "#\n# No statement is worth caching: no rule file to start from.\n")
		return
	}
	fmt.Fprintf(out, "\nversion: 1\nrules:\n")
	seen := map[string]bool{} // a statement of several databases gets one rule
	for _, r := range rules {
		if seen[r.name] {
			continue
		}
		seen[r.name] = true
		// A Go-quoted string is a YAML double-quoted scalar: the escapes it uses are YAML's too.
		fmt.Fprintf(out, "  - name: %s\n    match:\n      %s: %s\n    ttl: 1m\n", r.name, r.field, strconv.Quote(r.value))
	}
}
