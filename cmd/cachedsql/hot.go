package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

const hotAbout = `
Hot lists the hot entries that refresh_ahead and write_through rules report to Redis (see
cachedsql.Admin.Hot): for each rule and database, its hottest statements, then its hottest entries,
highest score first. A score is about the hits over the last two seconds, summed over every process
sharing the store. A statement is named by its fingerprint (and sqlc name) and shown with its text
with every literal written as "?" (the store keeps no value), and an entry by its key, a hash of the
database, the statement and its arguments. -f FILE gives the application's statements (SQL separated
by semicolons, such as sqlc's queries), whose own normalized text is shown under their fingerprint; -rules prints each rule's statement (its match.sql, normalized) or
conditions; each -dsn names the database it reaches next to its id.`

// hot lists the hot entries of refresh-ahead and write-through rules.
func (c *cli) hot(ctx context.Context, args []string) error {
	fs := c.flags("hot", hotAbout)
	fs.String(redisFlag.flag, "", redisUsage)
	fs.String(namespaceFlag.flag, "", namespaceUsage)
	fs.String(rulesFlag.flag, "", rulesUsage+": print each rule's statement")
	file := fs.String("f", "", "file of the application's statements, to show the text of the hot ones")
	db := fs.String("db", "", "only the database with this id (default: every database)")
	n := fs.Int("n", 20, "members to list per rule")
	var dsns dsnList
	fs.Var(&dsns, "dsn", "data source name of a database to name next to its id (repeatable)")
	drv := fs.String("driver", "pgx", "database/sql driver of the -dsn flags: pgx or sqlite3")
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
	o, admin, err := c.adminOf(fs, redisFlag, namespaceFlag, rulesFlag)
	if err != nil {
		return err
	}
	defer o.Redis.Close()
	names, err := databaseNames(ctx, *drv, dsns)
	if err != nil {
		return err
	}
	texts, err := c.statementTexts(*file)
	if err != nil {
		return err
	}
	sets, err := admin.Hot(ctx, cachedsql.DatabaseID(*db), *n)
	if err != nil {
		return err
	}
	if len(sets) == 0 {
		fmt.Fprintf(c.stdout, "no hot sets under %s*\n", keying.NewLayout(o.Namespace, "").KindPrefix(keying.KeyHot))
		return nil
	}
	rules := ruleTexts(o.Rules)
	for _, s := range sets {
		printHot(c.stdout, s, names, rules, texts)
	}
	return nil
}

// printHot writes one hot set: a header line, the rule's statement when known, a line per hot statement
// (and its text when known), then one line per entry.
func printHot(out io.Writer, s cachedsql.HotSet, names map[cachedsql.DatabaseID]string, rules, texts map[string]string) {
	fmt.Fprintf(out, "rule %s  db %s  (%s): %d shown\n", s.Rule, dbLabel(s.Database, names), s.Key, len(s.Entries))
	if text, ok := rules[s.Rule]; ok {
		fmt.Fprintf(out, "  %s\n", text)
	}
	for _, q := range s.Queries {
		name := ""
		if q.Name != "" {
			name = " " + q.Name
		}
		fmt.Fprintf(out, "  %10s  statement %s%s\n", strconv.FormatFloat(q.Score, 'g', 6, 64), q.Fingerprint, name)
		if text := cmp.Or(texts[q.Fingerprint], texts[q.Name], q.Text); text != "" {
			fmt.Fprintf(out, "              %s\n", text)
		}
	}
	for _, e := range s.Entries {
		fmt.Fprintf(out, "  %10s  %s\n", strconv.FormatFloat(e.Score, 'g', 6, 64), e.Key)
	}
}

// ruleTexts returns, for each rule of rs, what it matches: "statement: " and its match.sql normalized,
// or "matches: " and its conditions.
func ruleTexts(rs *cachedsql.Rules) map[string]string {
	out := make(map[string]string)
	for _, r := range rs.All() {
		m := r.Match
		if m.SQL != "" {
			out[r.Name] = "statement: " + keying.Analyze(m.SQL).Normalized
			continue
		}
		var conds []string
		add := func(name string, v string) {
			if v != "" {
				conds = append(conds, name+" "+v)
			}
		}
		add("query_name", m.QueryName)
		add("fingerprint", m.Fingerprint)
		add("regexp", m.Regexp)
		add("tables_any", strings.Join(m.TablesAny, ","))
		add("tables_all", strings.Join(m.TablesAll, ","))
		if m.Default {
			conds = append(conds, "default")
		}
		out[r.Name] = "matches: " + strings.Join(conds, "; ")
	}
	return out
}
