package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

const warmAbout = `
Warm fills the cache that an application shares in Redis with the results of the statements of
WARM.yaml files, for deploys and cold starts. A warm file is a list of statements with their arguments:

  - query: "SELECT id, name FROM users WHERE id = $1"
    args: [42]
  - query: SELECT region, sum(amount) FROM orders GROUP BY region

Give the application's data source name, rules, Redis, namespace and session settings
($CACHEDSQL_SESSION_SETTINGS), so that the keys match its own. Only cacheable reads that a rule caches
are run: anything else (a write, a read no rule matches) is refused and not run. Each statement is
reported on a line of its own, file:line first, as stored or not stored and why (from the library's
counters); a statement that fails is reported and the others still run. Progress goes to stderr on long
runs. Exit status 1 when a statement failed or nothing could be stored.`

// warmProgressEvery is the least time between two progress lines of warm (tests set 0).
var warmProgressEvery = time.Second

// warm fills a shared cache from warm files.
func (c *cli) warm(ctx context.Context, args []string) error {
	fs := c.flags("warm", warmAbout)
	drv := fs.String("driver", "pgx", "database/sql driver of -dsn: pgx or sqlite3")
	dsn := fs.String("dsn", "", "data source name: the application's database (any spelling that reaches it)")
	fs.String(rulesFlag.flag, "", rulesUsage)
	fs.String(redisFlag.flag, "", redisUsage)
	fs.String(namespaceFlag.flag, "", namespaceUsage)
	fs.String(timeoutFlag.flag, "", "bound on each Redis call, a duration such as 200ms (default $"+cachedsql.EnvStoreTimeout+", else the library's 50ms)")
	conc := fs.Int("concurrency", 4, "statements run at once (each on a connection of its own)")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *dsn == "":
		return usagef("-dsn is required")
	case len(files) == 0:
		return usagef("no warm file")
	case *conc < 1:
		return usagef("-concurrency must be at least 1, got %d", *conc)
	}
	if err := checkDriver(*drv); err != nil {
		return err
	}
	o, err := c.options(fs, rulesFlag, redisFlag, namespaceFlag, timeoutFlag, sessionVar)
	if o.Redis != nil {
		defer o.Redis.Close()
	}
	if err != nil {
		return err
	}
	if err := needRedis(o); err != nil {
		return err
	}
	if o.Rules == nil {
		return usagef("no rules: give -rules FILES or set %s", cachedsql.EnvRules)
	}
	var stmts []warmStatement
	for _, f := range files {
		s, err := readWarmFile(f)
		if err != nil {
			return err
		}
		stmts = append(stmts, s...)
	}
	stderr := &syncWriter{w: c.stderr}
	w := &warmer{c: c, stderr: stderr, warn: slog.New(slog.NewTextHandler(stderr, nil)), opts: o, driver: *drv, dsn: *dsn, stmts: stmts, results: make([]warmResult, len(stmts))}
	return w.run(ctx, min(*conc, max(len(stmts), 1)))
}

// warmStatement is one statement of a warm file, with its place.
type warmStatement struct {
	cachedsql.WarmStatement
	where string // file:line
}

// warmResult is what became of one statement.
type warmResult struct {
	done   bool
	stored bool
	failed bool
	msg    string
}

// warmer runs the statements of a warm: refused ones are reported without being run; the others are
// run by conc workers, each on a database handle of its own, so that the handle's counters (StatsOf)
// say what became of each statement it ran.
type warmer struct {
	c           *cli
	stderr      io.Writer    // c.stderr, shared by the progress lines and the library's warnings
	warn        *slog.Logger // the library's warnings, to stderr
	opts        cachedsql.Options
	driver, dsn string
	stmts       []warmStatement

	// mu guards the results and the reporting state below.
	mu                   sync.Mutex
	results              []warmResult
	printed              int // results printed, in file order
	done, stored, failed int
	lastProgress         time.Time
	started              time.Time
}

func (w *warmer) run(ctx context.Context, conc int) error {
	w.started, w.lastProgress = time.Now(), time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var openErr error
	for range conc {
		h, err := w.open(ctx)
		if err != nil {
			openErr = err
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.db.Close()
			for i := range jobs {
				w.finish(i, h.warmOne(ctx, w.stmts[i], w.opts.Rules))
			}
		}()
	}
	if openErr == nil {
	feed:
		for i, st := range w.stmts {
			if r, refused := refuse(st, w.opts.Rules); refused {
				w.finish(i, r)
				continue
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if openErr != nil {
		return openErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w.c.stdout, "warm: %d statement(s): %d stored, %d not stored, %d failed\n",
		len(w.stmts), w.stored, len(w.stmts)-w.stored-w.failed, w.failed)
	switch {
	case w.stored == 0:
		return &exitError{code: exitFailure, msg: "nothing could be stored"}
	case w.failed > 0:
		return &exitError{code: exitFailure, msg: fmt.Sprintf("%d statement(s) failed", w.failed)}
	}
	return nil
}

// refuse returns the result of a statement that is not run: anything but a cacheable read under an
// enabled rule.
func refuse(st warmStatement, rules *cachedsql.Rules) (warmResult, bool) {
	a := keying.Analyze(st.Query)
	r := rules.FirstMatch(a)
	why := ""
	switch {
	case a.Kind != keying.KindRead:
		why = "not a read (" + a.Kind.String() + ")"
	case !a.Cacheable:
		why = "not cacheable (" + a.Reason + ")"
	case r == nil:
		why = "no rule matches"
	case r.Disabled:
		why = "rule " + r.String() + " is disabled"
	default:
		return warmResult{}, false
	}
	return warmResult{msg: "not stored: " + why + "; not run"}, true
}

// finish records the result of statement i, prints the results now in order, and prints progress to
// stderr when it is due.
func (w *warmer) finish(i int, r warmResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r.done = true
	w.results[i] = r
	w.done++
	switch {
	case r.stored:
		w.stored++
	case r.failed:
		w.failed++
	}
	for w.printed < len(w.results) && w.results[w.printed].done {
		fmt.Fprintf(w.c.stdout, "%s: %s\n", w.stmts[w.printed].where, w.results[w.printed].msg)
		w.printed++
	}
	if now := time.Now(); w.done < len(w.stmts) && now.Sub(w.lastProgress) >= warmProgressEvery {
		w.lastProgress = now
		fmt.Fprintf(w.stderr, "warm: %d/%d statements done (%d stored, %d failed) in %v\n",
			w.done, len(w.stmts), w.stored, w.failed, now.Sub(w.started).Round(time.Millisecond))
	}
}

// warmHandle is one worker's database handle, with what its cache told it of the current statement.
type warmHandle struct {
	db  *sql.DB
	obs *warmObserver
}

// open opens a handle on the application's database with the application's options, its own observer
// and a logger that keeps the reason a result was not stored.
func (w *warmer) open(ctx context.Context) (*warmHandle, error) {
	obs := &warmObserver{warn: w.warn}
	o := w.opts
	o.Observer = obs
	o.Logger = slog.New(obs)
	db, err := cachedsql.Open(w.driver, w.dsn, o)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &warmHandle{db: db, obs: obs}, nil
}

// warmOne runs st on h, refreshing its entry, and says from h's counters whether it was stored.
func (h *warmHandle) warmOne(ctx context.Context, st warmStatement, rules *cachedsql.Rules) warmResult {
	h.obs.reset()
	before, _ := cachedsql.StatsOf(h.db)
	n, err := readRows(cachedsql.WithRefresh(ctx), h.db, st.Query, st.Args...)
	after, _ := cachedsql.StatsOf(h.db)
	if err != nil {
		return warmResult{failed: true, msg: "failed: " + err.Error()}
	}
	ev := h.obs.last()
	rule := rules.FirstMatch(keying.Analyze(st.Query))
	switch {
	case after.Fills > before.Fills:
		return warmResult{stored: true, msg: fmt.Sprintf("stored (rule %s, %d row(s), ttl %v)", rule.Name, n, rule.TTL)}
	case after.StoreErrors > before.StoreErrors:
		return warmResult{msg: "not stored: store error: " + ev.storeErr}
	case ev.read.Outcome == cachedsql.OutcomeBypass:
		why := ev.read.Bypass.String()
		if ev.read.Detail != "" {
			why += ": " + ev.read.Detail
		}
		return warmResult{msg: "not stored: bypassed the cache (" + why + ")"}
	case after.FillsSkipped > before.FillsSkipped:
		why := ev.skipped
		if why == "" {
			why = "the rule's limits"
		}
		return warmResult{msg: fmt.Sprintf("not stored: result not kept (%s; %d row(s))", why, n)}
	}
	return warmResult{msg: fmt.Sprintf("not stored (the cache reported %s)", ev.read.Outcome)}
}

// syncWriter serializes the writes of several goroutines to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// readRows reads every row of query and returns how many there were.
func readRows(ctx context.Context, db *sql.DB, query string, args ...any) (int, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Close(); err != nil {
		return n, err
	}
	return n, rows.Err()
}

// warmObserver hears what the cache of one handle did with the statement it runs: the read's outcome,
// a store error, and why a result was not stored (which the library logs at Debug level). Other log
// records at Warn level and above go to stderr.
type warmObserver struct {
	warn *slog.Logger

	mu sync.Mutex // guards ev
	ev warmEvents
}

type warmEvents struct {
	read     cachedsql.ReadEvent
	storeErr string
	skipped  string
}

func (o *warmObserver) reset() {
	o.mu.Lock()
	o.ev = warmEvents{}
	o.mu.Unlock()
}

func (o *warmObserver) last() warmEvents {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ev
}

func (o *warmObserver) ObserveRead(_ context.Context, ev cachedsql.ReadEvent) {
	o.mu.Lock()
	o.ev.read = ev
	o.mu.Unlock()
}

// ObserveStoreError keeps the first store error of the statement: the later ones tend to follow from it.
func (o *warmObserver) ObserveStoreError(_ context.Context, ev cachedsql.StoreErrorEvent) {
	o.mu.Lock()
	if o.ev.storeErr == "" {
		o.ev.storeErr = ev.Op + ": " + ev.Err.Error()
	}
	o.mu.Unlock()
}

// The slog.Handler side: the record "cachedsql: result not stored" carries the reason as "why".

func (o *warmObserver) Enabled(context.Context, slog.Level) bool { return true }

func (o *warmObserver) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		return o.warn.Handler().Handle(ctx, r)
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "why" {
			o.mu.Lock()
			o.ev.skipped = a.Value.String()
			o.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

func (o *warmObserver) WithAttrs([]slog.Attr) slog.Handler { return o }
func (o *warmObserver) WithGroup(string) slog.Handler      { return o }

// readWarmFile reads a warm file; errors name the file and line.
func readWarmFile(path string) ([]warmStatement, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	list := doc.Content[0]
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: want a list of statements ({query, args})", path, list.Line)
	}
	stmts := make([]warmStatement, 0, len(list.Content))
	for _, item := range list.Content {
		st, err := warmItem(item)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		stmts = append(stmts, warmStatement{WarmStatement: st, where: fmt.Sprintf("%s:%d", path, item.Line)})
	}
	return stmts, nil
}

// warmItem decodes one {query, args} item; errors say "line N".
func warmItem(item *yaml.Node) (cachedsql.WarmStatement, error) {
	var st cachedsql.WarmStatement
	if item.Kind != yaml.MappingNode {
		return st, fmt.Errorf("line %d: want {query, args}", item.Line)
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		key, val := item.Content[i], item.Content[i+1]
		var err error
		switch key.Value {
		case "query":
			err = val.Decode(&st.Query)
		case "args":
			err = val.Decode(&st.Args)
		default:
			return st, fmt.Errorf("line %d: unknown field %q; allowed: query, args", key.Line, key.Value)
		}
		if err != nil {
			return st, fmt.Errorf("line %d: %s: %w", val.Line, key.Value, err)
		}
	}
	if st.Query == "" {
		return st, fmt.Errorf("line %d: query is empty", item.Line)
	}
	return st, nil
}
