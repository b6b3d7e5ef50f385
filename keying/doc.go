// Package keying analyses SQL text and builds cache keys.
//
// [Analyze] lexes a statement (PostgreSQL and SQLite, tolerating MySQL),
// normalizes and fingerprints it, says what kind of statement it is, which
// tables it reads and writes, and whether its result may be cached.
// [HashArgs] hashes typed arguments, [Identity] names a database without
// its password, and [Layout] turns all three into store keys. [DigestOf]
// writes a statement without its literals, for statistics that count
// "id = 7" and "id = 8" as one statement; keys never use it.
//
// The package is pure: no network, no store, no global state beyond
// caches. Everything in it is safe for concurrent use. When unsure it errs
// towards safety: a read it does not fully understand is not cacheable,
// and a write whose tables it does not know touches every table.
package keying
