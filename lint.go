package cachedsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/keying"
)

// Checks of [Rules.Lint], as [LintWarning.Check] names them.
const (
	// LintShadowed: an earlier rule matches every statement the rule would, so the rule never applies.
	LintShadowed = "shadowed"
	// LintDefaultTTL: a default rule (it matches every cacheable read) gives no ttl, neither its own nor
	// through its file's defaults, so every read is cached for the built-in 60s.
	LintDefaultTTL = "default-ttl"
	// LintMissingTable: a table the rule names (match.tables_any, match.tables_all, the tables its
	// match.sql reads, depends_on) is neither a table nor a view of the database.
	LintMissingTable = "missing-table"
	// LintKeyNotUnique: a row rule's key columns hold no primary key or unique constraint of its table
	// (a unique index without predicate or expression counts), so a key value may find several rows.
	LintKeyNotUnique = "key-not-unique"
)

// LintWarning is something in a valid rule set that is probably not what its author meant.
type LintWarning struct {
	File  string // the rule's file, as given to [LoadRules]; "" for rules built in code
	Line  int    // the rule's 1-based line in File; 0 if unknown
	Rule  string // the rule's name
	Check string // which check found it: LintShadowed, LintDefaultTTL, LintMissingTable or LintKeyNotUnique
	Msg   string // what is wrong, lower case
}

// String returns `file:line: rule "name": msg`, or `rule "name": msg` for a rule built in code.
func (w LintWarning) String() string {
	s := "rule " + strconv.Quote(w.Rule) + ": " + w.Msg
	switch {
	case w.File != "" && w.Line > 0:
		return w.File + ":" + strconv.Itoa(w.Line) + ": " + s
	case w.File != "":
		return w.File + ": " + s
	}
	return s
}

// errLintDialect reports a database whose catalog Lint cannot read.
var errLintDialect = errors.New("cachedsql: lint: the catalog is read from PostgreSQL and SQLite only")

// Lint returns the warnings about rs, in rule order: rules shadowed by an earlier rule (LintShadowed),
// a default rule without a ttl (LintDefaultTTL) and, when db is not nil, the checks that need the
// database's catalog: tables that do not exist (LintMissingTable) and row rules whose key is not unique
// (LintKeyNotUnique). db may be a database opened by this package or by its parent driver; it must
// reach PostgreSQL or SQLite. When the catalog cannot be read, Lint returns the warnings found without
// it and the error. Shadowing is judged from the match conditions alone, conservatively: a rule is
// reported only when every statement it matches certainly matches the earlier one. The cachedsql
// command's check subcommand prints these warnings.
func (rs *Rules) Lint(ctx context.Context, db *sql.DB) ([]LintWarning, error) {
	if rs == nil {
		return nil, nil
	}
	var cat *lintCatalog
	var catErr error
	if db != nil {
		cat, catErr = readLintCatalog(ctx, db)
	}
	var out []LintWarning
	for i := range rs.rules {
		c := &rs.rules[i]
		warn := func(check, format string, args ...any) {
			out = append(out, LintWarning{File: c.rule.file, Line: c.rule.line, Rule: c.rule.Name, Check: check,
				Msg: fmt.Sprintf(format, args...)})
		}
		for j := range rs.rules[:i] {
			e := &rs.rules[j]
			if !e.covers(c) {
				continue
			}
			what := "rule"
			if e.rule.Disabled {
				what = "disabled rule"
			}
			warn(LintShadowed, "never applies: %s %s matches every statement it would", what, describeRule(e, j))
			break
		}
		if c.rule.Match.Default && c.rule.ttlDefault {
			warn(LintDefaultTTL, "default rule has no ttl: every cacheable read is cached for the built-in %v; set the staleness you accept", defaultTTL)
		}
		if cat == nil {
			continue
		}
		for _, t := range c.tables() {
			if !cat.tables[t] {
				warn(LintMissingTable, "table %q does not exist in the database", t)
			}
		}
		if row := c.rule.row; row != nil && cat.tables[row.table] && !cat.unique(row.table, row.key) {
			warn(LintKeyNotUnique, "key (%s) is not unique in table %q: no primary key or unique index on those columns",
				strings.Join(row.key, ", "), row.table)
		}
	}
	return out, catErr
}

// describeRule names the i'th rule c of a set for a message about another rule.
func describeRule(c *compiledRule, i int) string {
	if w := c.rule.where(); w != "" {
		return strconv.Quote(c.rule.Name) + " (" + w + ")"
	}
	return strconv.Quote(c.rule.Name) + " (argument " + strconv.Itoa(i+1) + ")"
}

// tables returns the tables rule c names, sorted and deduplicated.
func (c *compiledRule) tables() []string {
	var ts []string
	ts = append(ts, c.any...)
	ts = append(ts, c.all...)
	ts = append(ts, c.rule.DependsOn...)
	if c.rule.Match.SQL != "" {
		ts = append(ts, keying.Analyze(c.rule.Match.SQL).Reads...)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// covers reports whether every statement that rule j matches certainly matches c. It answers false
// when that cannot be known from the conditions.
func (c *compiledRule) covers(j *compiledRule) bool {
	m, mj := &c.rule.Match, &j.rule.Match
	if m.Default {
		return true
	}
	if mj.Default {
		return false
	}
	if m.QueryName != "" && m.QueryName != mj.QueryName {
		return false // j's statements may carry any name (or none)
	}
	if mj.SQL != "" {
		// Every statement j matches normalizes to j's statement: it reads the same tables, and only its
		// query name may differ, which the test above settled.
		st := keying.Analyze(mj.SQL)
		st.Name = m.QueryName
		return c.matches(st)
	}
	fp := mj.Fingerprint
	switch {
	case m.Fingerprint != "" && m.Fingerprint != fp, c.fp != "" && c.fp != fp:
		return false
	case m.Regexp != "" && m.Regexp != mj.Regexp:
		return false
	case len(c.any) > 0 && !readsOneOf(j, c.any):
		return false
	}
	for _, t := range c.all {
		if !slices.Contains(j.all, t) && !(len(j.any) == 1 && j.any[0] == t) {
			return false
		}
	}
	return true
}

// readsOneOf reports whether every statement j matches reads at least one of tables.
func readsOneOf(j *compiledRule, tables []string) bool {
	if slices.ContainsFunc(j.all, func(t string) bool { return slices.Contains(tables, t) }) {
		return true
	}
	return len(j.any) > 0 && !slices.ContainsFunc(j.any, func(t string) bool { return !slices.Contains(tables, t) })
}

// lintCatalog is what Lint reads from the database: the tables and views, and the unique keys of
// tables, names lower-cased and unqualified as keying reports them.
type lintCatalog struct {
	tables map[string]bool
	keys   map[string][][]string // table → column sets of its primary key and unique indexes
}

// unique reports whether the columns key (lower-cased) hold one of table's unique keys.
func (lc *lintCatalog) unique(table string, key []string) bool {
	for _, u := range lc.keys[table] {
		if !slices.ContainsFunc(u, func(col string) bool { return !slices.Contains(key, col) }) {
			return true
		}
	}
	return false
}

// readLintCatalog reads the tables and unique keys of the database db reaches.
func readLintCatalog(ctx context.Context, db *sql.DB) (*lintCatalog, error) {
	ctx = WithBypass(ctx) // through a caching db, catalog reads must not be served from its cache
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("cachedsql: lint: %w", err)
	}
	defer conn.Close()
	d := dialectOther
	if err := conn.Raw(func(dc any) error {
		if p := wrap.Unwrap(dc); p != nil {
			dc = p
		}
		if c, ok := dc.(driver.Conn); ok {
			d = dialectOf(c)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cachedsql: lint: %w", err)
	}
	lc := &lintCatalog{tables: make(map[string]bool), keys: make(map[string][][]string)}
	switch d {
	case dialectPostgres:
		err = lc.readPostgres(ctx, conn)
	case dialectSQLite:
		err = lc.readSQLite(ctx, conn)
	default:
		return nil, errLintDialect
	}
	if err != nil {
		return nil, fmt.Errorf("cachedsql: lint: read the catalog: %w", err)
	}
	return lc, nil
}

// lintPostgresTables lists the tables and views of every schema but the system ones: a rule's table
// names carry no schema, so a table of any schema may be the one it means.
const lintPostgresTables = `SELECT lower(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`

// lintPostgresKeys lists the columns of every unique index (primary keys included) without predicate
// or expression, one row per column.
const lintPostgresKeys = `SELECT lower(c.relname), i.indexrelid::text, lower(a.attname)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
WHERE i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 2`

func (lc *lintCatalog) readPostgres(ctx context.Context, conn *sql.Conn) error {
	if err := lintRows(ctx, conn, lintPostgresTables, func(name string) { lc.tables[name] = true }); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, lintPostgresKeys)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols := make(map[string][]string) // index → columns
	table := make(map[string]string)  // index → table
	var order []string
	for rows.Next() {
		var t, idx, col string
		if err := rows.Scan(&t, &idx, &col); err != nil {
			return err
		}
		if _, ok := table[idx]; !ok {
			order = append(order, idx)
			table[idx] = t
		}
		cols[idx] = append(cols[idx], col)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, idx := range order {
		lc.keys[table[idx]] = append(lc.keys[table[idx]], cols[idx])
	}
	return nil
}

func (lc *lintCatalog) readSQLite(ctx context.Context, conn *sql.Conn) error {
	var names []string
	err := lintRows(ctx, conn, `SELECT name FROM sqlite_master WHERE type IN ('table', 'view')`, func(name string) {
		names = append(names, name)
		lc.tables[strings.ToLower(name)] = true
	})
	if err != nil {
		return err
	}
	for _, t := range names {
		var pk []string
		err := lintRows(ctx, conn, `SELECT lower(name) FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, func(c string) {
			pk = append(pk, c)
		}, t)
		if err != nil {
			return err
		}
		key := strings.ToLower(t)
		if len(pk) > 0 {
			lc.keys[key] = append(lc.keys[key], pk)
		}
		var idxs []string
		err = lintRows(ctx, conn, `SELECT name FROM pragma_index_list(?) WHERE "unique" AND NOT partial`, func(i string) {
			idxs = append(idxs, i)
		}, t)
		if err != nil {
			return err
		}
		for _, idx := range idxs {
			var cols []string
			expr := false
			err := lintRows(ctx, conn, `SELECT coalesce(lower(name), '') FROM pragma_index_info(?)`, func(c string) {
				expr = expr || c == ""
				cols = append(cols, c)
			}, idx)
			if err != nil {
				return err
			}
			if !expr && len(cols) > 0 {
				lc.keys[key] = append(lc.keys[key], cols)
			}
		}
	}
	return nil
}

// lintRows runs a query of one text column and calls row for each value.
func lintRows(ctx context.Context, conn *sql.Conn, query string, row func(string), args ...any) error {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		row(s)
	}
	return rows.Err()
}
