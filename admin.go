package cachedsql

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/keying"
)

// Invalidate replaces the generation tokens of tables in the cache behind db, as a write to them
// through the wrapper would: every cached read of any of them, in every process sharing the store,
// misses from now on. With no tables it replaces the database's epoch, invalidating all its entries.
// Use it after writes made outside the wrapper. It fails if db was not opened by this package, or if it
// must open db's first connection (to learn the database's identity) and cannot; a store failure is
// not returned: the tokens are delivered later, as after a write (see the package doc). To invalidate
// without a handle on the database, or to see a store failure, use [Admin.InvalidateTables].
func Invalidate(ctx context.Context, db *sql.DB, tables ...string) error {
	d, ok := db.Driver().(*connectorDriver)
	if !ok {
		return errNotCaching
	}
	if err := d.eng.resolveIdentity(ctx, db); err != nil {
		return err
	}
	d.eng.invalidateTables(ctx, tableNames(tables), "")
	return nil
}

// tableNames returns the names of tables as the store keys them (see [keying.TableName]).
func tableNames(tables []string) []string {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = keying.TableName(t)
	}
	return names
}

// Admin administers the caches that applications keep in one Redis under one namespace
// ([Options.Namespace]), across every database they cache: it lists the databases, the hot entries
// and the recent invalidations, flushes the namespace or the entries of one rule, and invalidates
// tables. The cachedsql command is built on it. An Admin holds nothing but its client and namespace:
// it is safe for concurrent use, and needs no closing (it does not close the client).
//
// Listing goes through SCAN, on every master of a Redis Cluster (every shard of a Ring): it reads
// the whole keyspace, so it is meant for tools, not for a request path. As with SCAN, a key created
// or deleted while a method runs may be missed.
//
// NOTE: go-redis applies a ctx deadline to socket reads and writes only when the client was created
// with ContextTimeoutEnabled; otherwise a call waits for the client's own timeouts whatever ctx says.
//
// An Admin reaches only caches kept in Redis: the in-process store used without [Options.Redis] is
// private to its process (use [Invalidate] there).
type Admin struct {
	rdb redis.UniversalClient
	st  *store.Redis
	// ns names the keys of the namespace; its database part is unused (each method parses the
	// database out of the keys it lists, or builds a layout of the database it is given).
	ns        keying.Layout
	namespace string
}

// NewAdmin returns an Admin of the caches under namespace ("" means "cachedsql", as in [Options])
// in the Redis that client reaches. It panics if client is nil.
func NewAdmin(client redis.UniversalClient, namespace string) *Admin {
	if client == nil {
		panic("cachedsql: NewAdmin with nil client")
	}
	if namespace == "" {
		namespace = defaultNamespace
	}
	return &Admin{rdb: client, st: store.NewRedis(client), ns: keying.NewLayout(namespace, ""), namespace: namespace}
}

// DatabaseID names one database within a namespace: 16 hex digits of a hash of its identity, which
// the keys of the database hold (see [keying.Layout.Database]). [Admin.Databases] lists them;
// [DatabaseIDOf] computes one.
type DatabaseID string

// AllDatabases selects every database of the namespace where a method takes a [DatabaseID].
const AllDatabases DatabaseID = ""

// DatabaseIDOf returns the id of the database whose identity (see [ResolveIdentity]) is identity.
func DatabaseIDOf(identity string) DatabaseID {
	return DatabaseID(keying.NewLayout("", identity).Database())
}

// errBadDatabaseID reports a DatabaseID that is neither AllDatabases nor 16 hex digits.
var errBadDatabaseID = errors.New("cachedsql: database id must be 16 lower-case hex digits")

// matches reports whether id, as a filter, selects the database db (a db8 part).
func (id DatabaseID) matches(db string) bool {
	return id == AllDatabases || string(id) == db
}

// check returns an error if id is neither AllDatabases nor the id of a database.
func (id DatabaseID) check() error {
	if id == AllDatabases {
		return nil
	}
	if len(id) != 16 || strings.Trim(string(id), "0123456789abcdef") != "" {
		return fmt.Errorf("%w: %q", errBadDatabaseID, string(id))
	}
	return nil
}

// Invalidation is one past invalidation, as the invalidation log of its database holds it (the log
// keeps the newest 100).
type Invalidation struct {
	// Database is the database whose tables were invalidated.
	Database DatabaseID
	// Time is when the invalidation was made, in UTC.
	Time time.Time
	// Cause names what made it: the write's first word and its sqlc name or fingerprint (never its
	// text, which may hold values), "COMMIT" for a transaction, "cachedsql.Invalidate" or
	// "cachedsql.Admin" for a call, and for what the cache did of its own accord
	// "cachedsql.deliver" (invalidations delivered after the store came back),
	// "cachedsql.watch: a silent process presumed gone" or "cachedsql.watch: the store lost writes"
	// (the database's epoch replaced). An entry the log holds in an unknown form is returned with its
	// raw text as Cause.
	Cause string
	// Tables names the invalidated tables, as the store keys them (lower-cased, without schema);
	// "*" stands for the whole database.
	Tables []string
	// Rows counts the rows whose entries were invalidated one by one (a write pinned to key values
	// under row rules); their tables were invalidated too.
	Rows int
	// Text is the write's normalized statement with every literal written as "?" (as in
	// [QueryStat]), so that it holds no value; "" for a transaction's COMMIT, a call, or an entry
	// logged by an older version.
	Text string
}

// HotSet is the hot set of one refresh-ahead or write-through rule in one database: the entries read
// most, which refresh-ahead keeps fresh.
type HotSet struct {
	// Database and Rule name the set's database and rule.
	Database DatabaseID
	Rule     string
	// Key is the set's key in Redis.
	Key string
	// Entries are the set's highest-scoring entries, highest first.
	Entries []HotEntry
	// Queries are the statements of the rule's hot entries, by the same scores summed per statement,
	// highest first. They are fed with the entries by this release and later.
	Queries []HotQuery
}

// HotQuery is one statement of a [HotSet]. The store keeps no text of it, which may hold values:
// [keying.Analyze] of the application's statement gives its fingerprint and normalized text.
type HotQuery struct {
	Fingerprint string  // the statement's fingerprint, as [ReadEvent] has it
	Name        string  // its sqlc query name ("-- name: GetUser :one"), "" if none
	Text        string  // its normalized text with every literal written as "?" (never a value)
	Score       float64 // the summed score of its entries
}

// HotEntry is one entry of a [HotSet].
type HotEntry struct {
	// Key is the entry's key in Redis: an opaque hash of the database, statement and arguments.
	Key string
	// Score is about the entry's hits over the last two seconds, summed over every process sharing
	// the store.
	Score float64
}

// adminDelBatch is how many keys one pipeline of DELs removes.
const adminDelBatch = 500

// Databases returns the databases of the namespace, sorted: every database that has cached or
// invalidated something since the namespace was last flushed (it has an epoch or an invalidation log).
func (a *Admin) Databases(ctx context.Context) ([]DatabaseID, error) {
	var dbs []DatabaseID
	for _, kind := range []keying.KeyKind{keying.KeyEpoch, keying.KeyLog} {
		err := a.scan(ctx, kind, func(key string, name keying.KeyName) {
			dbs = append(dbs, DatabaseID(name.Database))
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(dbs)
	return slices.Compact(dbs), nil
}

// Flush deletes every key of the namespace, in every database: entries, generation tokens (so
// that every process's next reads miss), hot sets, logs. It returns how many keys it deleted. A key
// under the namespace's prefix that is not one of the forms [keying.Layout] lists is left alone: one
// of a nested namespace ("<namespace>:x"), or of an older release (which expires by itself).
func (a *Admin) Flush(ctx context.Context) (int, error) {
	n := 0
	var batch []string
	deleteBatch := func() error {
		d, err := a.del(ctx, batch)
		n, batch = n+d, batch[:0]
		return err
	}
	var delErr error
	err := a.st.Scan(ctx, a.ns.Prefix(), func(key string) bool {
		if _, ok := a.ns.Parse(key); ok {
			if batch = append(batch, key); len(batch) == adminDelBatch {
				delErr = deleteBatch()
			}
		}
		return delErr == nil
	})
	if err == nil && delErr == nil {
		delErr = deleteBatch()
	}
	if err := cmp.Or(delErr, err); err != nil {
		return n, fmt.Errorf("cachedsql: flush: %w", err)
	}
	return n, nil
}

// FlushRule deletes the live entries filled under the rule named rule in the database db (or in every
// database with [AllDatabases]), and returns how many it deleted: the next read of each misses.
// It finds them through the sets each fill adds its entry to, per rule and time bucket. Entries of
// other rules and databases stay valid.
func (a *Admin) FlushRule(ctx context.Context, db DatabaseID, rule string) (int, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	var sets []string
	err := a.scan(ctx, keying.KeyRuleIndex, func(key string, name keying.KeyName) {
		if name.Rule == rule && db.matches(name.Database) {
			sets = append(sets, key)
		}
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, set := range sets {
		d, err := a.flushSet(ctx, set)
		n += d
		if err != nil {
			return n, fmt.Errorf("cachedsql: flush rule %s: %w", rule, err)
		}
	}
	return n, nil
}

// flushSet deletes the entries listed in the rule index set at key, page by page, then the set. A
// member that is not an entry key of the namespace was not put there by the library and is kept.
func (a *Admin) flushSet(ctx context.Context, key string) (int, error) {
	n := 0
	var cursor uint64
	for {
		page, next, err := a.rdb.SScan(ctx, key, cursor, "", adminDelBatch).Result()
		if err != nil {
			return n, fmt.Errorf("sscan: %w", err)
		}
		page = slices.DeleteFunc(page, func(m string) bool {
			name, ok := a.ns.Parse(m)
			return !ok || name.Kind != keying.KeyEntry && name.Kind != keying.KeyRow
		})
		d, err := a.del(ctx, page)
		if n += d; err != nil {
			return n, err
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	_, err := a.del(ctx, []string{key})
	return n, err
}

// InvalidateTables replaces the generation tokens of tables (names as in a statement: "public.Users"
// reaches users) in the database whose identity is identity (see [ResolveIdentity]), as a write to
// them through the wrapper would, including the tokens of their row entries: every cached read of any
// of them, in every process sharing the store, misses from now on. With no tables it replaces the
// database's epoch, invalidating all its entries. The invalidation is logged with the cause
// "cachedsql.Admin". Unlike [Invalidate], it needs no handle on the database, and returns a store
// failure (after which some of the tokens may have been replaced).
func (a *Admin) InvalidateTables(ctx context.Context, identity string, tables ...string) error {
	if identity == "" {
		return errors.New("cachedsql: invalidate: empty database identity")
	}
	l := keying.NewLayout(a.namespace, identity)
	names := tableNames(tables)
	keys := []string{l.Epoch()}
	logged := []string{"*"}
	if len(names) > 0 {
		var err error
		if keys, err = a.tableTokens(ctx, l, names); err != nil {
			return fmt.Errorf("cachedsql: invalidate: %w", err)
		}
		logged = names
	}
	entry := store.LogEntry{Time: time.Now().UTC(), Cause: adminCause, Tables: logged}
	// As a write through the wrapper does, it also counts in the database's write generation, by which
	// the processes tell that a store restored from an older copy lost writes (strategies.Watch).
	if _, err := a.st.BumpAndRead(ctx, keys, l.Log(), entry, store.BumpRead{Counter: l.Generation()}); err != nil {
		return fmt.Errorf("cachedsql: invalidate: %w", err)
	}
	return nil
}

// tableTokens returns the token keys of tables in the database of l: each table's token and the
// tokens of its row entries, one per key column set registered for it.
func (a *Admin) tableTokens(ctx context.Context, l keying.Layout, tables []string) ([]string, error) {
	var keys []string
	for _, t := range tables {
		keys = append(keys, l.Token(t))
		sets, err := a.st.IndexMembers(ctx, l.Keysets(t))
		if err != nil {
			return nil, err
		}
		slices.Sort(sets)
		for _, m := range sets {
			if cols, ok := keying.ParseKeysetName(m); ok {
				keys = append(keys, l.KeyedToken(t, cols))
			}
		}
	}
	return keys, nil
}

// Invalidations returns up to n of the most recent invalidations of the database db (or of every
// database with [AllDatabases]), newest first; none when n <= 0.
func (a *Admin) Invalidations(ctx context.Context, db DatabaseID, n int) ([]Invalidation, error) {
	if err := db.check(); err != nil || n <= 0 {
		return nil, err
	}
	var logs []keying.KeyName
	var keys []string
	err := a.scan(ctx, keying.KeyLog, func(key string, name keying.KeyName) {
		if db.matches(name.Database) {
			logs, keys = append(logs, name), append(keys, key)
		}
	})
	if err != nil {
		return nil, err
	}
	var out []Invalidation
	for i, key := range keys {
		entries, err := a.st.RecentLog(ctx, key, n)
		if err != nil {
			return nil, fmt.Errorf("cachedsql: invalidations: %w", err)
		}
		for _, e := range entries {
			out = append(out, Invalidation{Database: DatabaseID(logs[i].Database), Time: e.Time,
				Cause: e.Cause, Tables: e.Tables, Rows: e.Rows, Text: e.Text})
		}
	}
	// Each log is newest first: a stable sort keeps that order among equal times.
	slices.SortStableFunc(out, func(x, y Invalidation) int { return y.Time.Compare(x.Time) })
	return out[:min(n, len(out))], nil
}

// Hot returns the hot sets of the database db (or of every database with [AllDatabases]), by rule
// then database, each with up to n of its entries and up to n of their statements, highest score
// first; none when n <= 0.
func (a *Admin) Hot(ctx context.Context, db DatabaseID, n int) ([]HotSet, error) {
	if err := db.check(); err != nil || n <= 0 {
		return nil, err
	}
	var sets []HotSet
	err := a.scan(ctx, keying.KeyHot, func(key string, name keying.KeyName) {
		if db.matches(name.Database) {
			sets = append(sets, HotSet{Database: DatabaseID(name.Database), Rule: name.Rule, Key: key})
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(sets, func(x, y HotSet) int {
		return cmp.Or(cmp.Compare(x.Rule, y.Rule), cmp.Compare(x.Database, y.Database))
	})
	for i := range sets {
		top, err := a.st.TopHot(ctx, sets[i].Key, n)
		if err != nil {
			return nil, fmt.Errorf("cachedsql: hot: %w", err)
		}
		sets[i].Entries = make([]HotEntry, len(top))
		for j, m := range top {
			sets[i].Entries[j] = HotEntry{Key: m.Member, Score: m.Score}
		}
		queries := a.ns.KindPrefix(keying.KeyHotQueries) + strings.TrimPrefix(sets[i].Key, a.ns.KindPrefix(keying.KeyHot))
		if top, err = a.st.TopHot(ctx, queries, n); err != nil {
			return nil, fmt.Errorf("cachedsql: hot: %w", err)
		}
		for _, m := range top {
			fp, name, text := parseHotQuery(m.Member)
			sets[i].Queries = append(sets[i].Queries, HotQuery{Fingerprint: fp, Name: name, Text: text, Score: m.Score})
		}
	}
	return sets, nil
}

// scan calls fn for each key of the namespace of the given kind, every database's, once each.
func (a *Admin) scan(ctx context.Context, kind keying.KeyKind, fn func(key string, name keying.KeyName)) error {
	seen := make(map[string]bool) // SCAN may return a key twice
	err := a.st.Scan(ctx, a.ns.KindPrefix(kind), func(key string) bool {
		if name, ok := a.ns.Parse(key); ok && name.Kind == kind && !seen[key] {
			seen[key] = true
			fn(key, name)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("cachedsql: list keys: %w", err)
	}
	return nil
}

// del deletes keys with a pipeline of single-key DELs (a Cluster splits it by slot), and returns how
// many existed.
func (a *Admin) del(ctx context.Context, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	pipe := a.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Del(ctx, k)
	}
	_, err := pipe.Exec(ctx)
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	if err != nil {
		return n, fmt.Errorf("delete: %w", err)
	}
	return n, nil
}
