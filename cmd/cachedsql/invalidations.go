package main

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/keying"
)

const invalidationsAbout = `
Invalidations prints the most recent invalidations of every database in the namespace (or of the one
-db names), newest first, from the logs that the wrapper writes with each invalidation (see
cachedsql.Admin.Invalidations). A write is named by its first word and its sqlc name or fingerprint,
and shown with its normalized text with every literal written as "?" (the store keeps no value). -f
FILE gives statements the application runs (SQL separated by semicolons, such as sqlc's queries): a
write whose fingerprint is one of theirs is shown with its own normalized text. Each -dsn names the
database it reaches next to its id.`

// invalidations prints the most recent invalidations.
func (c *cli) invalidations(ctx context.Context, args []string) error {
	fs := c.flags("invalidations", invalidationsAbout)
	fs.String(redisFlag.flag, "", redisUsage)
	fs.String(namespaceFlag.flag, "", namespaceUsage)
	db := fs.String("db", "", "only the database with this id (default: every database)")
	n := fs.Int("n", 20, "invalidations to list")
	file := fs.String("f", "", "file of the application's statements, to show the text of the writes it holds")
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
	o, admin, err := c.adminOf(fs, redisFlag, namespaceFlag)
	if err != nil {
		return err
	}
	defer o.Redis.Close()
	texts, err := c.statementTexts(*file)
	if err != nil {
		return err
	}
	names, err := databaseNames(ctx, *drv, dsns)
	if err != nil {
		return err
	}
	invs, err := admin.Invalidations(ctx, cachedsql.DatabaseID(*db), *n)
	if err != nil {
		return err
	}
	if len(invs) == 0 {
		fmt.Fprintf(c.stdout, "no invalidations logged under %s*\n", keying.NewLayout(o.Namespace, "").KindPrefix(keying.KeyLog))
		return nil
	}
	for _, e := range invs {
		rows := ""
		if e.Rows > 0 {
			rows = fmt.Sprintf(" (%d rows)", e.Rows)
		}
		fmt.Fprintf(c.stdout, "%s  db %s  %s%s  %s\n", e.Time.Format(time.RFC3339Nano), dbLabel(e.Database, names),
			strings.Join(e.Tables, ","), rows, e.Cause)
		if text := cmp.Or(causeText(e.Cause, texts), e.Text); text != "" {
			fmt.Fprintf(c.stdout, "    %s\n", text)
		}
	}
	return nil
}

// statementTexts returns the normalized text of each statement of file (none for ""), by fingerprint and
// by sqlc name.
func (c *cli) statementTexts(file string) (map[string]string, error) {
	texts := make(map[string]string)
	if file == "" {
		return texts, nil
	}
	stmts, err := c.readStatements(file)
	if err != nil {
		return nil, err
	}
	for _, s := range stmts {
		st := keying.Analyze(s.text)
		texts[st.Fingerprint] = st.Normalized
		if st.Name != "" {
			texts[st.Name] = st.Normalized
		}
	}
	return texts, nil
}

// causeRE parses the cause of an invalidation made by a write: its first word, then its sqlc name or
// its fingerprint.
var causeRE = regexp.MustCompile(`^\S+ (?:\(fingerprint ([0-9a-f]{32})\)|(\S+))$`)

// causeText returns the normalized text texts holds for the write that cause names, or "".
func causeText(cause string, texts map[string]string) string {
	m := causeRE.FindStringSubmatch(cause)
	if m == nil {
		return ""
	}
	return texts[m[1]+m[2]]
}
