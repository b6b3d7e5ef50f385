// Package wrap is the driver plumbing under cachedsql: it wraps a parent
// database/sql/driver connection so that every query, exec and begin made on
// it, or on a statement prepared on it, goes through an [Interceptor].
//
// database/sql chooses its code path by type assertion: a conn that claims
// [driver.ExecerContext] is asked to exec directly, one that does not gets the
// statement prepared first, and so on. A wrapper must therefore implement
// exactly the optional interfaces its parent implements, never one more and
// never one less. Go cannot add or drop methods at run time, so this package
// declares one struct type per combination of optional interfaces (2^10 for
// conns, 2^4 for statements, 2^6 for rows) and picks the type from a table
// indexed by the parent's bitmask. Each combination only embeds a base type
// and one tiny "mixin" per optional interface (one method set each, written
// by hand in conn.go, stmt.go and rows.go); the combinations and tables are
// generated into zz_generated.go by the program in ./gen.
package wrap

//go:generate go run ./gen
