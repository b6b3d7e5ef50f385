// Package strategies holds the caching policies of cachedsql:
//
//   - the cache-aside read ([CacheAside.Read]): one round trip fetches an entry and the generation
//     tokens it must record; a hit is an entry recorded with the current tokens and fresh ([Freshness]:
//     fresh, due for an early recomputation (XFetch), inside its stale-while-revalidate window, or only
//     usable if the database fails); a miss is loaded under stampede control;
//   - stampede control of a miss: single flight in the process, a fill lease among processes, a bounded
//     wait for another process's fill, serve-stale windows (stampede.go); write-through's own fill
//     ([CacheAside.Refill]);
//   - invalidation ([Invalidation]): which generation tokens a write replaces, down to the rows it is
//     pinned to ([Invalidation.EffectOf], [RowTokens], [ResolvePins]); their replacement before the
//     write returns ([Invalidation.Apply]); the delivery, in the background, of what the store could
//     not take (deliver.go); the watch of the processes sharing a database and of the store ([Watch]),
//     which bounds in time what a writer out of reach or a store that lost writes could make stale;
//   - write-through: the arguments with which a row lookup reads back the rows a write pinned
//     ([LookupArgs]);
//   - background refresh ([Refresher]): entries served stale and hot entries close to expiry are
//     refreshed in the background, a bounded number at a time, each key once at a time; hits feed the
//     hot sets that processes share.
//
// The strategies work against interfaces declared here: the store ([ReadStore], [WriteStore],
// [HotStore], [WatchStore]), its health as the caller has found it ([Health]), the statement being read ([Subject]: it
// hears every event, for counters and observers, and does what needs the caller, such as refreshing in
// the background), and the hearer of invalidations ([WriteEvents]). The root package names keys and
// entries, adapts the events to its Stats and Observer, and documents what the policies promise
// together.
package strategies
