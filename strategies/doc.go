// Package strategies holds the caching policies of cachedsql:
//
//   - the cache-aside read ([CacheAside.Read]): one round trip fetches an entry and the generation
//     tokens it must record; a hit is an entry recorded with the current tokens and fresh ([Freshness]:
//     fresh, due for an early recomputation (XFetch), inside its stale-while-revalidate window, or only
//     usable if the database fails); a miss is loaded under stampede control;
//   - stampede control of a miss: single flight in the process, a fill lease among processes, a bounded
//     wait for another process's fill, serve-stale windows (stampede.go); write-through's own fill
//     ([CacheAside.Refill]);
//   - invalidation: which generation tokens a write replaces for the row entries of a table, down to
//     the rows it is pinned to ([RowTokens], [ResolvePins]);
//   - write-through: the arguments with which a row lookup reads back the rows a write pinned
//     ([LookupArgs]).
//
// The read strategies work against interfaces declared here: the store ([ReadStore]), its health as the
// caller has found it ([Health]), and the statement being read ([Subject]: it hears every event, for
// counters and observers, and does what needs the caller, such as refreshing in the background). The
// root package names keys and entries, adapts the events to its Stats and Observer, and documents what
// the policies promise together.
package strategies
