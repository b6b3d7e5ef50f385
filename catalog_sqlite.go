package cachedsql

import (
	"context"
	"database/sql/driver"
	"strconv"
	"strings"

	"github.com/cachedsql/cachedsql/keying"
)

// The SQLite catalog of the main database: foreign keys from pragma foreign_key_list, views and
// triggers from the SQL text kept in sqlite_master (analysed by keying), and the functions the
// application registered from pragma function_list.
//
// SQLite has no stored functions: its functions are Go code the application registers on each
// connection (mattn/go-sqlite3 RegisterFunc), which cannot run SQL on the connection that calls them.
// One registered as deterministic (SQLITE_DETERMINISTIC, RegisterFunc's pure) is treated as pure; any
// other is treated as one that may read tables (a read calling it is not cached unless its rule lists
// depends_on), but never as one that writes or changes the connection.

// sqliteForeignKeys lists every foreign key with its actions.
const sqliteForeignKeys = `SELECT m.name, f."table", f.on_update, f.on_delete
FROM sqlite_master m, pragma_foreign_key_list(m.name) f
WHERE m.type = 'table'`

// sqliteObjects lists the views and triggers with their SQL.
const sqliteObjects = `SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('view', 'trigger') AND sql IS NOT NULL`

// sqliteFunctions lists the functions that are not built into SQLite.
const sqliteFunctions = `SELECT name, flags FROM pragma_function_list WHERE builtin = 0`

// sqliteDeterministic is SQLITE_DETERMINISTIC among pragma function_list's flags.
const sqliteDeterministic = 0x800

// sqliteExtensionFuncs are the functions of extensions compiled into mattn/go-sqlite3 (FTS3/4, R*Tree,
// user authentication), which function_list does not mark as built in. They read no tables.
var sqliteExtensionFuncs = map[string]bool{
	"match": true, "matchinfo": true, "snippet": true, "offsets": true, "optimize": true,
	"fts3_tokenizer": true, "fts5": true, "fts5_source_id": true, "bm25": true, "highlight": true,
	"rtreecheck": true, "rtreenode": true, "rtreedepth": true, "authenticate": true,
	"auth_user_add": true, "auth_user_change": true, "auth_user_delete": true,
}

// loadSQLite reads the catalog of a SQLite database.
func loadSQLite(ctx context.Context, conn driver.Conn) (*catalog, error) {
	c := newCatalog()
	err := catalogQuery(ctx, conn, sqliteForeignKeys, func(v []string) error {
		parent, child := strings.ToLower(v[1]), strings.ToLower(v[0])
		a := fkAction{child: child, onUpdate: sqliteChanges(v[2]), onDelete: sqliteChanges(v[3])}
		if a.onDelete || a.onUpdate {
			c.fks[parent] = append(c.fks[parent], a)
		}
		return nil
	})
	if err == nil {
		err = catalogQuery(ctx, conn, sqliteFunctions, func(v []string) error {
			name := strings.ToLower(v[0])
			if sqliteExtensionFuncs[name] {
				return nil
			}
			flags, _ := strconv.ParseInt(v[1], 10, 64)
			k := funcReads
			if flags&sqliteDeterministic != 0 {
				k = funcPure
			}
			c.addFunc(name, k)
			return nil
		})
	}
	if err == nil {
		err = catalogQuery(ctx, conn, sqliteObjects, func(v []string) error {
			name, table := strings.ToLower(v[1]), strings.ToLower(v[2])
			body := keying.DefinitionBody(v[3])
			switch {
			case v[0] == "view" && body == "":
				c.viewWhy[name] = "view " + name + ": its query is not understood"
			case v[0] == "view":
				c.addViewQuery(name, body, true)
			default:
				c.addTrigger(table, body, body != "")
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// sqliteChanges reports whether a foreign-key action changes the referencing rows.
func sqliteChanges(action string) bool {
	switch strings.ToUpper(action) {
	case "CASCADE", "SET NULL", "SET DEFAULT":
		return true
	}
	return false
}
