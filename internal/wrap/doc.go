// Package wrap is the driver plumbing under cachedsql: it wraps a parent
// database/sql/driver connection so that every query, exec and begin made on
// it, or on a statement prepared on it, goes through an [Interceptor].
//
// # Composed and neutral interfaces
//
// database/sql chooses its code path by type assertion: a conn that claims
// [driver.ExecerContext] is asked to exec directly, one that does not gets the
// statement prepared first, and so on. Go cannot add or drop methods at run
// time, so a wrapper that must have exactly its parent's optional interfaces
// needs one struct type per combination. That is only needed where database/sql
// (or a caller) can tell "present, with the answer a driver gives when it has
// nothing to say" from "absent". Reading database/sql (Go 1.26) interface by
// interface:
//
// Neutral, always present on the wrapper, answering as absence when the parent
// lacks them:
//
//   - [driver.NamedValueChecker] on conns and statements. database/sql asks the
//     statement's checker, else the conn's; driver.ErrSkip moves it on to the
//     statement's ColumnConverter if any, else to the default conversion, which
//     is exactly the ladder it follows when no checker exists. The wrapped
//     statement asks the parent statement's checker, else the parent conn's,
//     else answers ErrSkip, so the checker database/sql would have used is the
//     one that answers.
//   - [driver.Pinger]: database/sql's Ping does nothing and returns nil for a
//     conn without it; the wrapper returns nil.
//   - [driver.ConnPrepareContext]: without it database/sql calls Prepare, then
//     closes the statement and returns ctx.Err() if ctx has ended; the wrapper
//     does the same itself, on the parent's Prepare.
//   - Every optional [driver.Rows] interface. For a rows without them,
//     database/sql's ColumnTypes uses scan type any, database type name "", and
//     ok false for length, nullable and decimal size; Next and NextResultSet
//     close the rows at the end of the set as they do after HasNextResultSet
//     false or NextResultSet io.EOF (Rows.Err ignores io.EOF). [WrapRows]
//     gives those answers for every bit not in its mask. There is therefore one
//     rows type; [RowsMask] still records which interfaces the parent had, so
//     that cached rows are described by what the parent reported.
//
// Composed, present exactly when the parent has them (one generated type per
// combination, picked from a table by the parent's bitmask):
//
//   - [driver.ConnBeginTx]: without it database/sql refuses a non-default
//     isolation level or a read-only transaction itself and calls Begin;
//     BeginTx has no "skip" answer, so only absence reproduces that.
//   - [driver.ExecerContext], [driver.Execer], [driver.QueryerContext],
//     [driver.Queryer]: driver.ErrSkip does send database/sql to the prepared
//     path, so the prepare itself is no extra cost over absence, but it first
//     converts the arguments without a statement: the conn's checker and the
//     default conversion only, never the statement's checker or
//     ColumnConverter. An argument that only those accept would fail where the
//     bare driver succeeds, and every exec would pay a wasted conversion and a
//     call into the interceptor.
//   - [driver.SessionResetter] and [driver.Validator]: each alone has a neutral
//     answer (nil, true), but database/sql keeps a conn whose transaction was
//     rolled back by a cancelled context only when the conn has both (it
//     discards it otherwise). pgx's conn, for one, has SessionResetter and not
//     Validator: a wrapper adding IsValid would keep conns that database/sql
//     discards under bare pgx.
//   - [driver.StmtExecContext], [driver.StmtQueryContext]: without them
//     database/sql refuses named arguments with its own error before calling
//     Exec or Query; no answer of ours reproduces that error.
//   - [driver.ColumnConverter] on statements: a neutral converter
//     (driver.DefaultParameterConverter) differs from absence in corner cases:
//     database/sql then skips conversion of arguments past NumInput and words
//     Valuer errors differently.
//
// driver.Tx has no optional interface; this package does not wrap it.
//
// That leaves 2^7 conn and 2^3 statement combinations, generated into
// zz_generated.go by the program in ./gen; each embeds a base type holding the
// common and neutral methods, and one tiny hand-written mixin per composed
// interface (conn.go, stmt.go).
//
// A caller that reaches the wrapper through (*sql.Conn).Raw and type-asserts
// a neutral interface finds it even when the parent lacks it; calling it gives
// the answer database/sql itself assumes. Such a caller gets the parent, with
// its exact method set, from [Unwrap].
package wrap

//go:generate go run ./gen
