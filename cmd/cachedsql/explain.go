package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/cachedsql/cachedsql/keying"
)

// runExplain prints how each statement is classified: what a rule can match on, and whether it may
// be cached.
func runExplain(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("explain: give one or more SQL statements")
	}
	var failed error
	for i, q := range args {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := explainOne(q, out); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// analyze is keying.Analyze; tests replace it to make analysis panic.
var analyze = keying.Analyze

// explainOne prints the classification of q. A panic inside the analysis (a defect of keying) is
// printed and returned as an error, and the other statements are still explained.
func explainOne(q string, out io.Writer) (err error) {
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
	return nil
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
