package cachedsql

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cachedsql/cachedsql/keying"
	"github.com/cachedsql/cachedsql/strategies"
)

// Defaults for the zero values of [Rule] fields.
const (
	defaultTTL      = 60 * time.Second
	defaultMaxRows  = 10000
	defaultMaxBytes = 1 << 20
	defaultLockWait = time.Second
	defaultBeta     = 1.0
	defaultHotHits  = 8

	defaultWriteThroughLimit = 16
)

// Rule says whether and how one kind of read is cached. The zero value of
// each field means its default.
type Rule struct {
	// Name identifies the rule in messages and metrics; names are unique in a
	// set. Rule files must give one; in code, "" becomes "rule N", N being the
	// rule's 1-based position in the arguments to [NewRules].
	Name string

	// Match selects the statements the rule applies to.
	Match Match

	// TTL is how long an entry is kept. Zero means 60s; negative is an error.
	TTL time.Duration

	// SkipEmpty means results with no rows are not cached. By default they
	// are: a negative lookup is cheap to serve and is invalidated like any
	// other entry.
	SkipEmpty bool

	// MaxRows is the most rows a cached result may have; larger results are
	// not cached. Zero means 10000; negative means no limit.
	MaxRows int

	// MaxBytes is the largest encoded result that is cached. Zero means
	// 1 MiB; negative means no limit.
	MaxBytes int

	// Disabled makes a matching statement NOT cached. Put a disabled rule
	// before a broader one to exclude some statements from it.
	Disabled bool

	// Stampede control (see the package doc, "Stampedes"). Concurrent misses
	// of one entry in one process always share one query.

	// NoLease turns off the store lease through which one process fills an
	// entry while the others wait for it. Default: leases on.
	NoLease bool

	// LockWait is how long a miss waits for another process's fill before it
	// serves a stale copy (when StaleIfError or StaleWhileRevalidate allow)
	// or queries the database itself. Zero means 1s; negative means no wait.
	LockWait time.Duration

	// Beta weighs probabilistic early recomputation (XFetch): a hit
	// recomputes the entry early with a probability that grows as expiry
	// nears, in proportion to the entry's measured query time. Zero means 1;
	// negative turns early recomputation off.
	Beta float64

	// StaleWhileRevalidate serves an expired entry for up to this long while
	// one request refreshes it in the background (RFC 5861). Zero: off.
	StaleWhileRevalidate time.Duration

	// StaleIfError serves an expired entry for up to this long when the
	// database fails or times out (RFC 5861). Zero: off.
	StaleIfError time.Duration

	// RefreshAhead refreshes hot entries in the background shortly before
	// they expire, so that their readers never see the expiry.
	RefreshAhead bool

	// HotHits is how many hits within one TTL make an entry hot for
	// RefreshAhead. Zero means 8.
	HotHits int

	// Row rules and write-through (see the package doc, "Row rules").

	// Key makes the rule a row rule: the columns of a primary key or another
	// unique key of the one table the statement reads. The rule must give its
	// statement in Match.SQL, a lookup of that table whose WHERE compares
	// each key column for equality with an argument or a literal; loading
	// fails otherwise, saying why. A row rule's entry is the row, stored as a
	// hash, and only writes to that row (or writes that cannot be pinned to
	// rows) invalidate it. A lookup that finds no row is not cached.
	Key []string

	// WriteThrough makes writes update the cache before they return instead
	// of only invalidating it. For a row rule, a write pinned to key values
	// re-reads those rows on the writer's connection after the write (after
	// Commit in a transaction) and stores them, so the next read is a hit
	// with the new values. For any other rule, the rule's hottest entries
	// that read a written table (at most WriteThroughLimit, from the rule's
	// hot set) are recomputed the same way; the rest are only invalidated.
	WriteThrough bool

	// WriteThroughLimit bounds the entries of a result-set rule that one
	// write recomputes. Zero means 16; negative is an error.
	WriteThroughLimit int

	// DependsOn lists tables the rule's reads depend on beyond those their statements name: the tables
	// that the user-defined functions they call read (see the package doc, "Tables a statement does not
	// name"). A read that calls a user-defined function that is neither IMMUTABLE (PostgreSQL) nor
	// registered as deterministic (SQLite) is cached only when its rule gives DependsOn, non-nil (empty
	// means the functions read no table); a write to any of these tables, or to a table that a view
	// among them reads, invalidates the rule's entries. Giving it vouches for every function the rule's
	// reads call, VOLATILE ones included: they read only these tables, write nothing a cached read
	// depends on and change no session setting. Names are compared as for Match.TablesAny.
	DependsOn []string

	// row is the lookup shape of a row rule's statement.
	row *rowShape
	// policy is what the cache-aside read asks of the rule, filled in with the rule's defaults.
	policy strategies.Policy

	// file and line locate the rule in a rule file, for messages.
	file string
	line int
	// ttlDefault: TTL was given neither by the rule nor by its file's defaults (see [Rules.Lint]).
	ttlDefault bool
}

// String returns the rule's name, followed by its file position when the
// rule was loaded from a file: "get-user (cache.yaml:12)".
func (r Rule) String() string {
	if r.file == "" {
		return r.Name
	}
	return r.Name + " (" + r.where() + ")"
}

// where returns "file:line" for a rule loaded from a file, and "" otherwise.
func (r *Rule) where() string {
	if r.file == "" {
		return ""
	}
	return r.file + ":" + strconv.Itoa(r.line)
}

// Match lists conditions that must all hold for a rule to apply. At least one
// must be set, unless Default is, which must stand alone.
type Match struct {
	// QueryName is the sqlc query name from the statement's
	// "-- name: GetUser :one" comment, compared exactly.
	QueryName string

	// Fingerprint is the keying fingerprint (32 lower-case hex digits) of the
	// normalized statement, as reported by keying.Analyze.
	Fingerprint string

	// Regexp is an RE2 expression searched for in the normalized statement
	// (comments dropped, whitespace collapsed, keywords lower-cased). It is
	// not anchored: start it with ^ to match from the beginning.
	Regexp string

	// TablesAny holds when the statement reads at least one of these tables.
	// Names are compared lower-cased and without a schema: "Public.Users"
	// matches reads of users in any schema.
	TablesAny []string

	// TablesAll holds when the statement reads every one of these tables,
	// compared as for TablesAny.
	TablesAll []string

	// Default matches every cacheable read. It must be the only condition,
	// and no rule may follow a default rule.
	Default bool

	// SQL is a statement: the rule matches statements that normalize to the
	// same text (so whitespace, comments and keyword case may differ). It
	// must be a cacheable read. Row rules (Rule.Key) match this way.
	SQL string
}

// rowShape is what a row rule knows of its statement.
type rowShape struct {
	table string
	// key are the key columns as keying spells them, sorted; vals holds the statement's value for
	// each, in key order.
	key  []string
	vals []keying.Value
	// lookup is the whole equality shape, for mapping write values onto the statement's arguments.
	lookup *keying.Lookup
}

// Rules is a validated, ordered set of rules. The first rule that matches a
// statement decides. A Rules is immutable and safe for concurrent use.
type Rules struct {
	rules []compiledRule
	// triggers maps a table to the tables its triggers write, as declared (see [Rules.WithTriggers]).
	triggers map[string][]string
}

// Trigger declares what the triggers of a table write, so that a write to the table invalidates those
// tables instead of what the database catalog suggests. Without a declaration, a write to a table with
// triggers replaces the epoch (every table) unless the trigger bodies can be read: SQLite triggers and
// PL/pgSQL functions whose INSERT, UPDATE, DELETE and MERGE statements name their tables (no EXECUTE,
// no call of a volatile user-defined function).
type Trigger struct {
	// Table is the table the triggers are on, compared as for Match.TablesAny.
	Table string
	// Writes lists every table the triggers of Table write (empty: none). Each is invalidated, with
	// what its own foreign-key actions and triggers change, whenever Table is written.
	Writes []string
}

// WithTriggers returns a copy of rs that also holds the trigger declarations ts, one per table.
// Problems are reported as by [NewRules]. WithTriggers on a nil *Rules declares triggers with no rule.
func (rs *Rules) WithTriggers(ts ...Trigger) (*Rules, error) {
	ds := make([]decodedTrigger, len(ts))
	for i, t := range ts {
		ds[i] = decodedTrigger{Trigger: Trigger{Table: t.Table, Writes: slices.Clone(t.Writes)}}
	}
	return rs.withTriggers(ds)
}

// Triggers returns a copy of the trigger declarations of rs, sorted by table.
func (rs *Rules) Triggers() []Trigger {
	if rs == nil {
		return nil
	}
	out := make([]Trigger, 0, len(rs.triggers))
	for t, w := range rs.triggers {
		out = append(out, Trigger{Table: t, Writes: slices.Clone(w)})
	}
	slices.SortFunc(out, func(a, b Trigger) int { return cmp.Compare(a.Table, b.Table) })
	return out
}

// triggerWrites returns the tables the triggers of table t are declared to write, and whether they are
// declared.
func (rs *Rules) triggerWrites(t string) ([]string, bool) {
	if rs == nil {
		return nil, false
	}
	w, ok := rs.triggers[t]
	return w, ok
}

// decodedTrigger is a trigger declaration on its way into a set, with its position in a rule file.
type decodedTrigger struct {
	Trigger
	// file and line locate the declaration; tableLine and writesLine its settings (0: unknown).
	file                        string
	line, tableLine, writesLine int
}

// withTriggers validates ds and returns a copy of rs holding them.
func (rs *Rules) withTriggers(ds []decodedTrigger) (*Rules, error) {
	out := &Rules{triggers: make(map[string][]string)}
	if rs != nil {
		out.rules = rs.rules
		for t, w := range rs.triggers {
			out.triggers[t] = w
		}
	}
	var errs []error
	first := make(map[string]*decodedTrigger)
	for i := range ds {
		d := &ds[i]
		fail := func(line int, format string, args ...any) {
			errs = append(errs, &RuleError{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
		}
		table, ok := tableName(d.Table)
		if !ok {
			fail(cmp.Or(d.tableLine, d.line), "triggers: bad table name %q", d.Table)
			continue
		}
		_, before := rs.triggerWrites(table)
		if f, dup := first[table]; dup || before {
			where := "an earlier declaration"
			if f != nil && f.file != "" {
				where = f.file + ":" + strconv.Itoa(f.line)
			}
			fail(cmp.Or(d.tableLine, d.line), "triggers: table %q is declared twice (first at %s)", d.Table, where)
			continue
		}
		first[table] = d
		writes := []string{}
		for _, w := range d.Writes {
			n, ok := tableName(w)
			if !ok {
				fail(cmp.Or(d.writesLine, d.line), "triggers: bad table name %q in writes of %q", w, d.Table)
				continue
			}
			if !slices.Contains(writes, n) {
				writes = append(writes, n)
			}
		}
		out.triggers[table] = writes
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// tableName returns name lower-cased and without schema, as keying reports tables.
func tableName(name string) (string, bool) {
	t := strings.ToLower(strings.TrimSpace(name))
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		t = t[i+1:]
	}
	return t, t != ""
}

// compiledRule is a rule with its defaults filled in and its match
// conditions prepared.
type compiledRule struct {
	rule Rule
	re   *regexp.Regexp
	fp   string   // fingerprint of Match.SQL
	any  []string // TablesAny, lower-cased and unqualified
	all  []string // TablesAll, lower-cased and unqualified
}

// NewRules validates rules and returns them as a set, in the order given.
// Every problem found is reported, each as a [*RuleError] naming its rule,
// joined with [errors.Join].
func NewRules(rules ...Rule) (*Rules, error) {
	ds := make([]decodedRule, len(rules))
	for i, r := range rules {
		ds[i].rule = r
		ds[i].rule.Match.TablesAny = slices.Clone(r.Match.TablesAny)
		ds[i].rule.Match.TablesAll = slices.Clone(r.Match.TablesAll)
		ds[i].rule.Key = slices.Clone(r.Key)
		if r.DependsOn != nil {
			ds[i].rule.DependsOn = slices.Clone(r.DependsOn)
			if ds[i].rule.DependsOn == nil {
				ds[i].rule.DependsOn = []string{}
			}
		}
	}
	return build(ds, nil)
}

// Match returns the first rule matching st, or nil if st is not to be
// cached: no rule matches, the first match is disabled, or st is not a
// cacheable read (st.Kind is not keying.KindRead or st.Cacheable is false).
// The returned rule has its defaults filled in; it is shared, and callers
// must not modify it. Match on a nil *Rules returns nil.
func (rs *Rules) Match(st *keying.Statement) *Rule {
	if r := rs.first(st); r != nil && !r.Disabled {
		return r
	}
	return nil
}

// first returns the first rule matching st, disabled or not.
func (rs *Rules) first(st *keying.Statement) *Rule {
	if rs == nil || st == nil || st.Kind != keying.KindRead || !st.Cacheable {
		return nil
	}
	for i := range rs.rules {
		if c := &rs.rules[i]; c.matches(st) {
			return &c.rule
		}
	}
	return nil
}

// All returns a copy of the rules in order, with defaults filled in.
func (rs *Rules) All() []Rule {
	if rs == nil {
		return nil
	}
	out := make([]Rule, len(rs.rules))
	for i := range rs.rules {
		out[i] = rs.rules[i].rule
		out[i].Match.TablesAny = slices.Clone(out[i].Match.TablesAny)
		out[i].Match.TablesAll = slices.Clone(out[i].Match.TablesAll)
		out[i].Key = slices.Clone(out[i].Key)
		if out[i].DependsOn != nil {
			out[i].DependsOn = append([]string{}, out[i].DependsOn...)
		}
	}
	return out
}

// matches reports whether every condition of the rule holds for st.
func (c *compiledRule) matches(st *keying.Statement) bool {
	m := &c.rule.Match
	switch {
	case m.Default:
		return true
	case m.QueryName != "" && m.QueryName != st.Name:
		return false
	case m.Fingerprint != "" && m.Fingerprint != st.Fingerprint:
		return false
	case c.fp != "" && c.fp != st.Fingerprint:
		return false
	case len(c.any) > 0 && !slices.ContainsFunc(c.any, func(t string) bool { return slices.Contains(st.Reads, t) }):
		return false
	case slices.ContainsFunc(c.all, func(t string) bool { return !slices.Contains(st.Reads, t) }):
		return false
	case c.re != nil && !c.re.MatchString(st.Normalized):
		return false
	}
	return true
}

// RuleError is one problem found in a rule or rule file. [LoadRules],
// [ParseRules] and [NewRules] join all the problems they find with
// [errors.Join], so [errors.As] finds the first *RuleError.
type RuleError struct {
	File   string // rule file, as given; "" for rules built in code
	Line   int    // 1-based line in File; 0 if unknown
	Column int    // 1-based column in Line; 0 if unknown
	Rule   string // name of the rule, if known
	Msg    string // what is wrong, lower case

	err error // underlying error, such as from reading File
}

// Error returns "file:line:col: msg" (line and column when known) for a
// problem in a file, and `cachedsql: rule "name": msg` for a rule built in
// code.
func (e *RuleError) Error() string {
	if e.File == "" {
		if e.Rule != "" {
			return "cachedsql: rule " + strconv.Quote(e.Rule) + ": " + e.Msg
		}
		return "cachedsql: " + e.Msg
	}
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any, such as an [fs.PathError]
// cause when a rule file could not be read.
func (e *RuleError) Unwrap() error { return e.err }

// position is a place in a rule file.
type position struct{ line, col int }

// decodedRule is a rule on its way into a set, with the file positions of
// its settings (nil for rules built in code).
type decodedRule struct {
	rule Rule
	// at maps a setting, spelled as in rule files ("ttl", "match.regexp"),
	// to the position of its value; "" maps to the rule itself.
	at map[string]position
	// failed holds the settings whose values decoding rejected: problems
	// with them or their parents ("match" for "match.tables_any") would
	// only repeat or follow from what was already reported.
	failed map[string]bool
}

// problem is one thing wrong with a rule. field names the offending setting
// as in rule files, so that a file error can point at it.
type problem struct {
	field string
	msg   string
}

// errorFor turns p into a *RuleError positioned at p's field, or at the
// nearest enclosing setting whose position is known.
func (d *decodedRule) errorFor(p problem) *RuleError {
	e := &RuleError{File: d.rule.file, Rule: d.rule.Name, Msg: p.msg}
	for field := p.field; ; {
		if pos, ok := d.at[field]; ok {
			e.Line, e.Column = pos.line, pos.col
			return e
		}
		if field == "" {
			return e
		}
		i := strings.LastIndexByte(field, '.')
		field = field[:max(i, 0)]
	}
}

// build validates ds as one set and compiles it. errs holds problems
// already found while decoding; build adds its own and reports them all.
func build(ds []decodedRule, errs []error) (*Rules, error) {
	rs := &Rules{rules: make([]compiledRule, len(ds))}
	for i := range ds {
		d := &ds[i]
		if d.rule.Name == "" {
			d.rule.Name = "rule " + strconv.Itoa(i+1)
		}
		var probs []problem
		rs.rules[i], probs = compileRule(d.rule)
		for _, p := range probs {
			if !d.followsFailure(p.field) {
				errs = append(errs, d.errorFor(p))
			}
		}
	}
	errs = append(errs, checkOrder(ds)...)
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errors.Join(errs...)
	}
	return rs, nil
}

// followsFailure reports whether a problem with field may follow from a
// value that decoding rejected.
func (d *decodedRule) followsFailure(field string) bool {
	for f := range d.failed {
		if f == field || strings.HasPrefix(f, field+".") {
			return true
		}
	}
	return false
}

// sortErrors orders errors by file, keeping the order in which files were
// first named, then by position.
func sortErrors(errs []error) {
	files := make(map[string]int)
	key := func(err error) (int, int, int) {
		var e *RuleError
		if !errors.As(err, &e) {
			return -1, 0, 0
		}
		if _, ok := files[e.File]; !ok {
			files[e.File] = len(files)
		}
		return files[e.File], e.Line, e.Column
	}
	for _, err := range errs {
		key(err)
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		fa, la, ca := key(a)
		fb, lb, cb := key(b)
		return cmp.Or(cmp.Compare(fa, fb), cmp.Compare(la, lb), cmp.Compare(ca, cb))
	})
}

// checkOrder reports duplicate names and the first rule made unreachable
// by a default rule before it.
func checkOrder(ds []decodedRule) []error {
	var errs []error
	first := make(map[string]int, len(ds))
	deflt := -1 // index of the first default rule; -2 once reported
	for i := range ds {
		r := &ds[i].rule
		if j, dup := first[r.Name]; dup {
			msg := fmt.Sprintf("duplicate rule name %q (first at %s)", r.Name, ds[j].describe(j))
			errs = append(errs, ds[i].errorFor(problem{"name", msg}))
		} else {
			first[r.Name] = i
		}
		switch {
		case deflt == -1 && r.Match.Default:
			deflt = i
		case deflt >= 0:
			// Reporting every later rule would only repeat the one mistake.
			msg := fmt.Sprintf("unreachable: default rule %q (%s) matches every read first", ds[deflt].rule.Name, ds[deflt].describe(deflt))
			errs = append(errs, ds[i].errorFor(problem{"", msg}))
			deflt = -2
		}
	}
	return errs
}

// describe locates the i'th rule of a set for messages about another rule.
func (d *decodedRule) describe(i int) string {
	if w := d.rule.where(); w != "" {
		return w
	}
	return "argument " + strconv.Itoa(i+1)
}

// compileRule fills in r's defaults and prepares its conditions, reporting
// whatever makes r invalid.
func compileRule(r Rule) (compiledRule, []problem) {
	var probs []problem
	switch {
	case r.TTL < 0:
		probs = append(probs, problem{"ttl", "ttl must be positive"})
	case r.TTL == 0:
		r.TTL, r.ttlDefault = defaultTTL, true
	}
	if r.MaxRows == 0 {
		r.MaxRows = defaultMaxRows
	}
	if r.MaxBytes == 0 {
		r.MaxBytes = defaultMaxBytes
	}
	probs = append(probs, fillStampede(&r)...)
	switch {
	case r.WriteThroughLimit < 0:
		probs = append(probs, problem{"write_through_limit", "write_through_limit must not be negative"})
	case r.WriteThroughLimit == 0:
		r.WriteThroughLimit = defaultWriteThroughLimit
	}
	if r.DependsOn != nil {
		deps := []string{}
		for _, n := range r.DependsOn {
			t, ok := tableName(n)
			if !ok {
				probs = append(probs, problem{"depends_on", fmt.Sprintf("depends_on: bad table name %q", n)})
				continue
			}
			if !slices.Contains(deps, t) {
				deps = append(deps, t)
			}
		}
		r.DependsOn = deps
	}
	c := compiledRule{rule: r}
	probs = append(probs, analysed(c.compileMatch)...)
	probs = append(probs, analysed(c.compileRow)...)
	cr := &c.rule // after compileRow, which sets a row rule's own defaults
	cr.policy = strategies.Policy{TTL: cr.TTL, Beta: cr.Beta, StaleWhileRevalidate: cr.StaleWhileRevalidate,
		StaleIfError: cr.StaleIfError, NoLease: cr.NoLease, LockWait: cr.LockWait, MaxRows: cr.MaxRows,
		MaxBytes: cr.MaxBytes, SkipEmpty: cr.SkipEmpty}
	return c, probs
}

// analysed runs compile, which analyses the rule's statement, and reports a panic inside it (a defect
// of this package) as a problem of match.sql instead of taking the application down.
func analysed(compile func() []problem) (probs []problem) {
	defer func() {
		if r := recover(); r != nil {
			probs = []problem{{"match.sql", fmt.Sprintf("statement analysis failed (a bug: please report it): %v", r)}}
		}
	}()
	return compile()
}

// fillStampede checks the stampede settings of r and fills in their defaults.
func fillStampede(r *Rule) []problem {
	var probs []problem
	if r.LockWait == 0 {
		r.LockWait = defaultLockWait
	}
	switch {
	case math.IsNaN(r.Beta) || math.IsInf(r.Beta, 0):
		probs = append(probs, problem{"beta", "beta must be a finite number"})
	case r.Beta == 0:
		r.Beta = defaultBeta
	}
	if r.StaleWhileRevalidate < 0 {
		probs = append(probs, problem{"stale_while_revalidate", "stale_while_revalidate must not be negative"})
	}
	if r.StaleIfError < 0 {
		probs = append(probs, problem{"stale_if_error", "stale_if_error must not be negative"})
	}
	switch {
	case r.HotHits < 0:
		probs = append(probs, problem{"hot_hits", "hot_hits must not be negative"})
	case r.HotHits == 0:
		r.HotHits = defaultHotHits
	}
	return probs
}

// fingerprintRE matches a keying fingerprint.
var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// compileMatch checks c.rule.Match and prepares its conditions.
func (c *compiledRule) compileMatch() []problem {
	m := &c.rule.Match
	var probs []problem
	others := m.QueryName != "" || m.Fingerprint != "" || m.Regexp != "" ||
		len(m.TablesAny) > 0 || len(m.TablesAll) > 0 || m.SQL != ""
	switch {
	case m.Default && others:
		probs = append(probs, problem{"match", "default cannot be combined with other conditions"})
	case !m.Default && !others:
		probs = append(probs, problem{"match", "empty match: give at least one condition"})
	}
	if m.Fingerprint != "" && !fingerprintRE.MatchString(m.Fingerprint) {
		msg := fmt.Sprintf("fingerprint %q is not 32 lower-case hex digits", m.Fingerprint)
		probs = append(probs, problem{"match.fingerprint", msg})
	}
	if m.Regexp != "" {
		re, err := regexp.Compile(m.Regexp)
		if err != nil {
			msg := "bad regexp: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")
			probs = append(probs, problem{"match.regexp", msg})
		}
		c.re = re
	}
	if m.SQL != "" {
		st := keying.Analyze(m.SQL)
		if st.Kind != keying.KindRead || !st.Cacheable {
			why := st.Reason
			if why == "" {
				why = st.Kind.String()
			}
			probs = append(probs, problem{"match.sql", "not a cacheable read: " + why})
		}
		c.fp = st.Fingerprint
	}
	var p []problem
	c.any, p = tableSet("tables_any", m.TablesAny)
	probs = append(probs, p...)
	c.all, p = tableSet("tables_all", m.TablesAll)
	return append(probs, p...)
}

// tableSet returns names lower-cased and without schema, the way keying
// reports the tables a statement reads.
func tableSet(field string, names []string) ([]string, []problem) {
	var probs []problem
	out := make([]string, 0, len(names))
	for _, n := range names {
		t := strings.ToLower(strings.TrimSpace(n))
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			t = t[i+1:]
		}
		if t == "" {
			probs = append(probs, problem{"match." + field, fmt.Sprintf("%s: bad table name %q", field, n)})
			continue
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, probs
}

// compileRow checks the row rule settings and learns the shape of a row rule's statement.
func (c *compiledRule) compileRow() []problem {
	r := &c.rule
	if len(r.Key) == 0 {
		return nil
	}
	if r.Match.SQL == "" {
		return []problem{{"key", "a row rule (key) must give its statement in match.sql"}}
	}
	lk, why := keying.Analyze(r.Match.SQL).Lookup()
	if lk == nil {
		return []problem{{"key", "match.sql is not a lookup of one row by key: " + why}}
	}
	var probs []problem
	shape := &rowShape{table: lk.Table, lookup: lk}
	for _, k := range r.Key {
		i := slices.Index(lk.Columns, k)
		if i < 0 {
			i = slices.Index(lk.Columns, strings.ToLower(k))
		}
		if i < 0 {
			msg := fmt.Sprintf("key column %q is not compared for equality with a value in the WHERE of match.sql", k)
			if len(lk.Columns) > 0 {
				msg += " (it compares " + strings.Join(lk.Columns, ", ") + ")"
			}
			probs = append(probs, problem{"key", msg})
			continue
		}
		if !slices.Contains(shape.key, lk.Columns[i]) {
			shape.key = append(shape.key, lk.Columns[i])
		}
	}
	if len(probs) > 0 {
		return probs
	}
	slices.Sort(shape.key)
	for _, k := range shape.key {
		shape.vals = append(shape.vals, lk.Values[slices.Index(lk.Columns, k)])
	}
	r.row = shape
	r.SkipEmpty = true // a row rule never caches the absence of a row (see Key)
	return nil
}
