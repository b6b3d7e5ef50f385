package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// scrape runs the example with args until it serves, scrapes its /metrics over HTTP, and returns the
// metric families, the cache's Stats at that moment, and what the example printed once stopped.
func scrape(t *testing.T, args ...string) (map[string]*dto.MetricFamily, cachedsql.Stats, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type serving struct {
		addr string
		db   *sql.DB
	}
	ready := make(chan serving, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(ctx, args, &out, func(addr string, db *sql.DB) { ready <- serving{addr, db} })
	}()
	var s serving
	select {
	case s = <-ready:
	case err := <-done:
		t.Fatalf("the example stopped before serving: %v\n%s", err, out.String())
	}
	// The workload is over and nothing else reads: these are the figures the scrape must show.
	st, ok := cachedsql.StatsOf(s.db)
	if !ok {
		t.Fatal("StatsOf: not a cachedsql database")
	}
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return families, st, out.String()
}

// value adds the values of the samples of family name whose labels include labels (a label given as ""
// must be absent); for a histogram, it adds their counts.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	t.Helper()
	f, ok := families[name]
	if !ok {
		return 0
	}
	var n float64
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range labels {
			if have[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			n += m.GetCounter().GetValue()
		case m.Histogram != nil:
			n += float64(m.GetHistogram().GetSampleCount())
		case m.Gauge != nil:
			n += m.GetGauge().GetValue()
		}
	}
	return uint64(n)
}

// checkScrape checks that the scraped per-rule counters equal the cache's Stats.
func checkScrape(t *testing.T, families map[string]*dto.MetricFamily, st cachedsql.Stats) {
	t.Helper()
	if len(st.Rules) != 2 {
		t.Fatalf("Stats has rules %v, want orders and customers", st.Rules)
	}
	for rule, rs := range st.Rules {
		reads := func(outcome string) uint64 {
			return value(t, families, "cachedsql_reads_total",
				map[string]string{"cachedsql_rule": rule, "cachedsql_read_outcome": outcome})
		}
		for _, c := range []struct {
			what      string
			got, want uint64
		}{
			{"hits", reads("hit"), rs.Hits},
			{"misses", reads("miss"), rs.Misses},
			{"bypasses", reads("bypass"), rs.Bypasses},
			{"fills", value(t, families, "cachedsql_fills_total", map[string]string{"cachedsql_rule": rule}), rs.Fills},
			{"hit durations", value(t, families, "cachedsql_hit_duration_seconds",
				map[string]string{"cachedsql_rule": rule}), rs.Hits},
			{"miss query durations", value(t, families, "cachedsql_query_duration_seconds",
				map[string]string{"cachedsql_rule": rule, "cachedsql_read_outcome": "miss"}), rs.Misses},
		} {
			if c.got != c.want {
				t.Errorf("rule %s: %s: /metrics says %d, Stats %d", rule, c.what, c.got, c.want)
			}
		}
	}
	for why, n := range st.Bypasses {
		reason := strings.ReplaceAll(why.String(), " ", "_")
		if got := value(t, families, "cachedsql_reads_total", map[string]string{"cachedsql_bypass_reason": reason}); got != n {
			t.Errorf("bypasses for %q: /metrics says %d, Stats %d", why, got, n)
		}
	}
	if got := value(t, families, "cachedsql_store_errors_total", nil); got != st.StoreErrors {
		t.Errorf("store errors: /metrics says %d, Stats %d", got, st.StoreErrors)
	}
}

// TestScrape: after the example's workload, /metrics shows per-rule hit and miss counters equal to
// Stats, on the in-process store.
func TestScrape(t *testing.T) {
	t.Parallel()
	families, st, out := scrape(t, "-addr", "127.0.0.1:0")
	checkScrape(t, families, st)
	if st.Rules["orders"].Hits == 0 || st.Rules["orders"].Misses == 0 {
		t.Errorf("the workload made no hit or no miss of orders: %+v", st.Rules["orders"])
	}
	if want := "rule orders: 6 hits, 4 misses, 1 bypasses, 4 fills\n"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "serving metrics on http://127.0.0.1:") {
		t.Errorf("output does not say where it serves:\n%s", out)
	}
}

// TestScrapeRedis: the same with -redis, in a namespace of its own (CACHEDSQL_NAMESPACE).
func TestScrapeRedis(t *testing.T) {
	p := testenv.Prefix(t)
	t.Setenv(cachedsql.EnvNamespace, p[:len(p)-1])
	families, st, _ := scrape(t, "-addr", "127.0.0.1:0", "-redis", "redis://"+testenv.RedisAddr(t)+"/0")
	checkScrape(t, families, st)
	if st.Hits == 0 || st.Misses == 0 {
		t.Errorf("the workload made no hit or no miss: %+v", st)
	}
	n, err := testenv.Redis(t).Keys(context.Background(), p+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(n) == 0 {
		t.Error("nothing was stored in Redis under the namespace")
	}
}

// TestFlags: -h prints the usage and is no error; mistakes in the command line are usage errors.
func TestFlags(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &out, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"-addr", "-redis"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("usage does not mention %s:\n%s", f, out.String())
		}
	}
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-redis", "http://not-redis"}} {
		err := run(context.Background(), args, &bytes.Buffer{}, nil)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if err := run(context.Background(), []string{"-addr", "127.0.0.1:not-a-port"}, &bytes.Buffer{}, nil); err == nil {
		t.Error("-addr 127.0.0.1:not-a-port: no error")
	}
}
