package cachedsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"strconv"
	"time"

	"github.com/cachedsql/cachedsql/keying"
)

// The PostgreSQL catalog, over every schema but pg_catalog and information_schema: table names are
// compared without schema, as keying reports them and as generation tokens are named, so a fact about
// s1.orders applies to every table called orders (more invalidation, never less).

// pgForeignKeys lists the foreign keys with an action that changes the referencing table.
const pgForeignKeys = `SELECT lower(p.relname), lower(c.relname),
	(k.confdeltype IN ('c', 'n', 'd'))::text, (k.confupdtype IN ('c', 'n', 'd'))::text
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_class p ON p.oid = k.confrelid
WHERE k.contype = 'f' AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))`

// pgUnder lists the relations each view's query reads, and the inheritance children and partitions
// of each table.
const pgUnder = `SELECT DISTINCT lower(v.relname), lower(t.relname)
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
	AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
WHERE v.relkind = 'v' AND t.oid <> v.oid
UNION
SELECT lower(p.relname), lower(c.relname)
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_class p ON p.oid = i.inhparent`

// pgViews lists the views with their queries, and the functions they depend on. Dependencies on
// built-in objects are not recorded, so the query text is analysed too (now(), catalog reads).
const pgViews = `SELECT lower(v.relname), pg_catalog.pg_get_viewdef(v.oid), ''
FROM pg_catalog.pg_class v
JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
WHERE v.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT DISTINCT lower(v.relname), '', lower(f.proname)
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
	AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
JOIN pg_catalog.pg_proc f ON f.oid = d.refobjid
WHERE v.relkind = 'v'`

// pgFunctions lists the user-defined functions (not procedures, not trigger functions), their
// volatility, and whether an extension owns them.
const pgFunctions = `SELECT lower(p.proname), p.provolatile::text,
	EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
		AND d.objid = p.oid AND d.deptype = 'e')::text
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prokind <> 'p'
	AND p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype`

// pgTriggers lists the user triggers with their functions' bodies, and the tables with rewrite rules
// on writes (CREATE RULE … DO ALSO/INSTEAD), whose effects are not analysed.
const pgTriggers = `SELECT lower(c.relname), p.prosrc, lower(l.lanname)
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE NOT t.tgisinternal
UNION ALL
SELECT lower(c.relname), '', 'rule'
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
WHERE r.ev_type <> '1'`

// loadPostgres reads the catalog of a PostgreSQL database by deadline. It runs in a read-only
// transaction of its own (one snapshot of the catalog), each query bounded by a statement_timeout set
// to the time left, so that a slow or blocked catalog read is cancelled by the server and leaves the
// connection usable. The connection is not in a transaction of the application's (see ensureCatalog).
func loadPostgres(ctx context.Context, conn driver.Conn, deadline time.Time) (c *catalog, err error) {
	if err := execConn(ctx, conn, "BEGIN READ ONLY"); err != nil {
		return nil, err
	}
	defer func() {
		if rerr := execConn(ctx, conn, "ROLLBACK"); err == nil && rerr != nil {
			c, err = nil, rerr
		}
	}()
	query := func(q string, row func([]string) error) error {
		left := time.Until(deadline).Milliseconds()
		if left <= 0 {
			return errors.New("cachedsql: reading the catalog took too long")
		}
		if err := execConn(ctx, conn, "SET LOCAL statement_timeout = "+strconv.FormatInt(left, 10)); err != nil {
			return err
		}
		return catalogQuery(ctx, conn, q, row)
	}
	return readPostgres(query)
}

// readPostgres reads the catalog with query.
func readPostgres(query func(q string, row func([]string) error) error) (*catalog, error) {
	c := newCatalog()
	err := query(pgForeignKeys, func(v []string) error {
		c.fks[v[0]] = append(c.fks[v[0]], fkAction{child: v[1], onDelete: v[2] == "true", onUpdate: v[3] == "true"})
		return nil
	})
	if err == nil {
		err = query(pgUnder, func(v []string) error {
			c.under[v[0]] = append(c.under[v[0]], v[1])
			return nil
		})
	}
	if err == nil {
		err = query(pgFunctions, func(v []string) error {
			k := funcReads
			switch {
			case v[2] == "true" && v[1] != "v", v[1] == "i":
				k = funcPure // IMMUTABLE, or a non-volatile function of an extension
			case v[1] == "v" && v[2] != "true":
				k = funcVolatile
			}
			c.addFunc(v[0], k)
			return nil
		})
	}
	if err == nil {
		err = query(pgViews, func(v []string) error {
			if v[2] != "" {
				c.viewCalls[v[0]] = append(c.viewCalls[v[0]], v[2])
				return nil
			}
			c.addViewQuery(v[0], v[1], false)
			return nil
		})
	}
	if err == nil {
		err = query(pgTriggers, func(v []string) error {
			c.addTrigger(v[0], v[1], v[2] == "plpgsql" || v[2] == "sql")
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// addViewQuery records what the query of view (its text, from the catalog) says: why reading it cannot
// be cached, the functions it calls, and, with bases, the tables it reads (when the catalog does not
// list them itself).
func (c *catalog) addViewQuery(view, query string, bases bool) {
	st := keying.Analyze(query)
	if st.Kind != keying.KindRead {
		c.viewWhy[view] = "view " + view + ": its query is not understood"
		return
	}
	if !st.Cacheable && (bases || st.Reason != "tables not understood") {
		c.viewWhy[view] = "view " + view + ": " + st.Reason
	}
	c.viewCalls[view] = append(c.viewCalls[view], st.Calls()...)
	if bases {
		for _, t := range st.Reads {
			if t != view {
				c.under[view] = append(c.under[view], t)
			}
		}
	}
}

// addTrigger records a trigger (or rule) on table whose body is given; analysable says the body is SQL
// or PL/pgSQL that keying.WriteTargets can read.
func (c *catalog) addTrigger(table, body string, analysable bool) {
	if !analysable {
		c.trigAll[table] = true
		return
	}
	writes, calls, ok := keying.WriteTargets(body)
	if !ok {
		c.trigAll[table] = true
		return
	}
	c.trigWrites[table] = append(c.trigWrites[table], writes...)
	// A function the body calls may write anything; checked once the functions are known (settle).
	c.trigCalls = append(c.trigCalls, trigCall{table, calls})
}
