package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

const explainAbout = `
Explain prints how each statement is classified: its normalized text and fingerprint, what it reads
and writes, whether it may be cached and, with rules, which rule decides for it (with its TTL and, for
a row rule, the row key). Statements come from the arguments, from -f FILE, or from stdin when there
are neither ("-" as an argument also reads stdin). A file or stdin may hold several statements
separated by semicolons; a "-- name: X" comment before one names it. Nothing is sent to a database.
-h is never taken for a statement: put a statement that starts with "-" after "--".`

// explain prints how each statement is classified: what a rule can match on, whether it may be cached
// and, with rules, which rule decides for it.
func (c *cli) explain(ctx context.Context, args []string) error {
	fs := c.flags("explain", explainAbout)
	fs.String(rulesFlag.flag, "", rulesUsage)
	file := fs.String("f", "", "read statements from FILE (\"-\": stdin)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	o, err := c.options(fs, rulesFlag)
	if err != nil {
		return err
	}
	stmts, err := c.explainInput(*file, rest)
	if err != nil {
		return err
	}
	if len(stmts) == 0 {
		return usagef("no statement: give SQL as arguments, with -f FILE or on stdin")
	}
	var failed error
	for i, st := range stmts {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		if st.where != "" {
			fmt.Fprintf(c.stdout, "source:      %s\n", st.where)
		}
		if err := explainOne(st.text, o.Rules, c.stdout); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// sourced is a statement with where it came from ("file:line"; "" for an argument).
type sourced struct{ text, where string }

// explainInput returns the statements of explain's arguments, of -f FILE, or of stdin.
func (c *cli) explainInput(file string, args []string) ([]sourced, error) {
	if file != "" && len(args) > 0 {
		return nil, usagef("give statements as arguments or with -f, not both")
	}
	if file == "" && len(args) == 0 {
		file = "-"
	}
	if file == "" {
		var out []sourced
		for _, a := range args {
			if a == "-" {
				in, err := c.readStatements("-")
				if err != nil {
					return nil, err
				}
				out = append(out, in...)
				continue
			}
			out = append(out, sourced{text: a})
		}
		return out, nil
	}
	return c.readStatements(file)
}

// readStatements reads the statements of a file ("-": stdin), split at their top-level semicolons.
func (c *cli) readStatements(file string) ([]sourced, error) {
	var data []byte
	var err error
	name := file
	if file == "-" {
		data, err = io.ReadAll(c.stdin)
		name = "stdin"
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	return splitStatements(name, string(data)), nil
}

// splitStatements splits text at its top-level semicolons (as keying does), keeping each statement's
// leading comments (a "-- name:" comment names it), and locates each by name and the line where its
// first word is.
func splitStatements(name, text string) []sourced {
	var out []sourced
	cur := 0
	for _, s := range keying.Statements(text) {
		i := strings.Index(text[cur:], s)
		if i < 0 { // keying returns substrings of text, in order: not reached
			continue
		}
		end := cur + i + len(s)
		chunk := strings.TrimLeft(text[cur:end], "; \t\r\n")
		line := 1 + strings.Count(text[:cur+i], "\n") // where the statement itself starts, after its comments
		out = append(out, sourced{text: chunk, where: fmt.Sprintf("%s:%d", name, line)})
		cur = end
	}
	return out
}

// analyze is keying.Analyze; tests replace it to make analysis panic.
var analyze = keying.Analyze

// explainOne prints the classification of q. A panic inside the analysis (a defect of keying) is
// printed and returned as an error, and the other statements are still explained.
func explainOne(q string, rules *cachedsql.Rules, out io.Writer) (err error) {
	fmt.Fprintf(out, "statement:   %s\n", strings.Join(strings.Fields(q), " "))
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(out, "analysis:    failed (%v): the wrapper sends this statement to the database\n", r)
			err = fmt.Errorf("explain: analysis of %q failed (a bug: please report it): %v", q, r)
		}
	}()
	st := analyze(q)
	fmt.Fprintf(out, "normalized:  %s\n", st.Normalized)
	fmt.Fprintf(out, "fingerprint: %s\n", st.Fingerprint)
	if st.Name != "" {
		fmt.Fprintf(out, "query name:  %s\n", st.Name)
	}
	fmt.Fprintf(out, "kind:        %s\n", st.Kind)
	if len(st.Reads) > 0 {
		fmt.Fprintf(out, "reads:       %s\n", strings.Join(st.Reads, ", "))
	}
	switch {
	case st.AllTables:
		fmt.Fprintf(out, "writes:      every table (the database's epoch)\n")
	case len(st.Writes) > 0:
		fmt.Fprintf(out, "writes:      %s\n", strings.Join(st.Writes, ", "))
	}
	if calls := st.Calls(); len(calls) > 0 {
		fmt.Fprintf(out, "calls:       %s\n", strings.Join(calls, ", "))
	}
	if st.Cacheable {
		fmt.Fprintf(out, "cacheable:   yes, when a rule matches\n")
	} else if st.Kind == keying.KindRead {
		fmt.Fprintf(out, "cacheable:   no (%s)\n", st.Reason)
	}
	if len(st.Session) > 0 {
		changes := make([]string, len(st.Session))
		for i, c := range st.Session {
			changes[i] = c.String()
		}
		fmt.Fprintf(out, "session:     %s\n", strings.Join(changes, "; "))
	}
	explainCatalog(out, st)
	explainRows(out, st)
	if rules != nil {
		explainRule(out, rules, st)
	}
	return nil
}

// explainRule prints which rule of rules decides for st, its TTL and, for a row rule, the row key.
func explainRule(out io.Writer, rules *cachedsql.Rules, st *keying.Statement) {
	if st.Kind != keying.KindRead {
		return
	}
	r := rules.FirstMatch(st)
	switch {
	case !st.Cacheable:
		fmt.Fprintf(out, "rule:        none (not cacheable)\n")
		return
	case r == nil:
		fmt.Fprintf(out, "rule:        none matches: the read bypasses the cache (reason \"no rule\")\n")
		return
	case r.Disabled:
		fmt.Fprintf(out, "rule:        %s, disabled: the read bypasses the cache (reason \"rule disabled\")\n", r)
		return
	}
	fmt.Fprintf(out, "rule:        %s\n", r)
	ttl := r.TTL.String()
	if r.StaleWhileRevalidate > 0 || r.StaleIfError > 0 {
		ttl += fmt.Sprintf(" (stale_while_revalidate %v, stale_if_error %v)", r.StaleWhileRevalidate, r.StaleIfError)
	}
	fmt.Fprintf(out, "ttl:         %s\n", ttl)
	if len(r.Key) == 0 {
		return
	}
	lk, _ := st.Lookup()
	if lk == nil { // a row rule matches its own statement, which is a lookup: not reached
		return
	}
	var parts []string
	for _, k := range r.Key {
		i := slices.Index(lk.Columns, strings.ToLower(k))
		if i < 0 {
			i = slices.Index(lk.Columns, k)
		}
		if i < 0 {
			continue
		}
		parts = append(parts, lk.Columns[i]+" = "+valueText(lk.Values[i]))
	}
	fmt.Fprintf(out, "row key:     %s (%s): one entry per row, invalidated by writes to that row\n", lk.Table, strings.Join(parts, ", "))
}

// valueText shows where a key value comes from: a placeholder or a literal.
func valueText(v keying.Value) string {
	switch {
	case v.IsLiteral:
		return strconv.Quote(v.Literal)
	case v.Name != "":
		return ":" + v.Name
	}
	return "argument " + strconv.Itoa(v.Ordinal)
}

// explainRows prints what row rules can do with st: the key columns a row rule may use for a read, and
// the rows a write is pinned to.
func explainRows(out io.Writer, st *keying.Statement) {
	switch st.Kind {
	case keying.KindRead:
		if !st.Cacheable {
			return
		}
		if lk, why := st.Lookup(); lk != nil {
			fmt.Fprintf(out, "row rule:    possible, key among: %s\n", strings.Join(lk.Columns, ", "))
		} else {
			fmt.Fprintf(out, "row rule:    no (%s)\n", why)
		}
	case keying.KindWrite:
		switch p := st.Pins(); {
		case p == nil:
			fmt.Fprintf(out, "row scope:   every row of the table (not pinned to key values)\n")
		case p.Creates:
			fmt.Fprintf(out, "row scope:   adds rows only (no cached row changes)\n")
		default:
			fmt.Fprintf(out, "row scope:   %d row(s) by %s\n", len(p.Rows), strings.Join(p.Columns, ", "))
		}
	}
}

// explainCatalog says what the database catalog adds at run time, which explain (offline) cannot see.
func explainCatalog(out io.Writer, st *keying.Statement) {
	switch {
	case st.Kind == keying.KindRead && st.Cacheable && len(st.Calls()) > 0:
		fmt.Fprintf(out, "catalog:     a user-defined function among the calls bypasses the cache (reason \"user-defined function\")\n"+
			"             unless the rule lists what it reads in depends_on; a VOLATILE one also invalidates every table\n")
	case st.Kind == keying.KindRead && st.Cacheable && len(st.Reads) > 0:
		fmt.Fprintf(out, "catalog:     a view among the tables read adds the tables its query reads\n")
	case st.Kind == keying.KindWrite && !st.AllTables:
		fmt.Fprintf(out, "catalog:     also invalidates the tables changed through foreign-key actions, triggers and views\n")
	}
}
