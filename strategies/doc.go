// Package strategies holds the caching policies of cachedsql as pure functions over package keying's
// analysis of statements:
//
//   - cache-aside freshness: whether a valid entry is fresh, due for an early recomputation (XFetch),
//     inside its stale-while-revalidate window, or only usable if the database fails ([Freshness]);
//   - invalidation: which generation tokens a write replaces for the row entries of a table, down to
//     the rows it is pinned to ([RowTokens], [ResolvePins]);
//   - write-through: the arguments with which a row lookup reads back the rows a write pinned
//     ([LookupArgs]).
//
// They touch no store and no database; the root package applies them, and its documentation says what
// they promise together.
package strategies
