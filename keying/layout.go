package keying

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// DefaultNamespace is the namespace NewLayout uses for "".
const DefaultNamespace = "cachedsql"

// Layout names every store key under one namespace for one database
// identity (see [Identity]). Keys are printable ASCII and hold no argument
// value and no identity text: the identity is hashed, and db8 below is the
// first 16 hex digits of its SHA-256 ([Layout.Database]). The forms are
// stable; the part after the namespace names the key's [KeyKind]:
//
//	<ns>:q:<db8>:<fingerprint 16 hex>:<32 hex>  a cached result (Entry)
//	<ns>:t:<db8>:<table>                        a table's generation token
//	<ns>:e:<db8>                                the namespace epoch
//	<ns>:log:<db8>                              the recent invalidations (a list)
//	<ns>:live:<db8>                             the processes sharing the database, by last beat (Live, a sorted set)
//	<ns>:gen:<db8>                              the write generation: a counter every write increments (Generation)
//	<ns>:r:<db8>:{<row 32 hex>}                 a row's generation token (RowToken)
//	<ns>:r:<db8>:{<row>}:<fp 16 hex>:<32 hex>   a cached row entry (RowEntry)
//	<ns>:t:<db8>:<table>:k:<16 hex>             the token of a table's row entries keyed by one column set (KeyedToken)
//	<ns>:ks:<db8>:<table>                       the column sets a table's row entries are keyed by (Keysets, a set)
//	<ns>:l:<entry key after "<ns>:">            the fill lease of an entry (Lease)
//	<ns>:h:<db8>:<rule>                         a rule's hot entries, by score (Hot, a sorted set)
//	<ns>:hq:<db8>:<rule>                        a rule's hot statements, by score (HotQueries, a sorted set)
//	<ns>:k:<db8>:<rule>:<bucket>                a rule's entries filled in one time bucket (RuleIndex, a set)
//	<ns>:qs:<db8>                               the statement digests with statistics, by last update (StatsIndex, a sorted set)
//	<ns>:qs:<db8>:<digest 16 hex>               the statistics of one statement digest (Stats, a hash)
//	<ns>:qs:<db8>:other                         the statistics of digests past the bound (Stats with StatsOverflow, a hash)
//	<ns>:qs:<db8>:w                             the writes per table (StatsWrites, a hash)
//
// <rule> is a rule's name with every byte outside [A-Za-z0-9_.-] written as
// %XX (lower-case hex), so it holds no ":", no Redis Cluster hash tag and
// no SCAN MATCH pattern character, and two names never share it. <bucket>
// is a decimal number. [Layout.KindPrefix] and [Layout.Parse] let a tool
// list the keys of one kind across the databases of the namespace.
//
// A Layout is a small immutable value, safe for concurrent use.
type Layout struct {
	ns    string   // escaped namespace
	db    string   // db8: 16 hex digits of idSum
	idSum [32]byte // SHA-256 of the identity
}

// NewLayout returns the layout for namespace and the database identity.
// An empty namespace means [DefaultNamespace]. Bytes of the namespace that
// are not printable ASCII, and "%", are written as %XX.
func NewLayout(namespace, identity string) Layout {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	l := Layout{ns: escapeNamespace(namespace), idSum: sha256.Sum256([]byte(identity))}
	l.db = hex.EncodeToString(l.idSum[:8])
	return l
}

func escapeNamespace(s string) string {
	return percentEscape(s, func(c byte) bool { return c > ' ' && c < 0x7f && c != '%' })
}

// percentEscape returns s with every byte that keep refuses written as %XX (lower-case hex).
func percentEscape(s string, keep func(byte) bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := range len(s) {
		c := s[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

const hexDigits = "0123456789abcdef"

// Namespace returns the (escaped) namespace.
func (l Layout) Namespace() string { return l.ns }

// Prefix returns "<ns>:", the start of every key of this layout.
func (l Layout) Prefix() string { return l.ns + ":" }

// Database returns db8, the part of this layout's keys that names the
// database: the first 16 hex digits of the SHA-256 of the identity.
func (l Layout) Database() string { return l.db }

// Epoch returns the key of the namespace epoch of this database, which
// every entry records and which DDL and writes to unknown tables replace.
func (l Layout) Epoch() string { return l.ns + ":e:" + l.db }

// Log returns the key of the list of this database's recent invalidations,
// newest first.
func (l Layout) Log() string { return l.ns + ":log:" + l.db }

// Live returns the key of the sorted set in which the processes sharing this database record their
// last beat.
func (l Layout) Live() string { return l.ns + ":live:" + l.db }

// Generation returns the key of this database's write generation, a counter every write increments:
// a value lower than one seen before means the store lost writes.
func (l Layout) Generation() string { return l.ns + ":gen:" + l.db }

// Token returns the key of the generation token of table. The name is
// lower-cased; a name with bytes outside [a-z0-9_] (from a quoted
// identifier), or longer than 64 bytes, is replaced by "#" and 32 hex digits
// of its SHA-256, which no plain name can equal.
func (l Layout) Token(table string) string {
	table = lowerASCII(table)
	if !plainName(table) {
		sum := sha256.Sum256([]byte(table))
		table = "#" + hex.EncodeToString(sum[:16])
	}
	return l.ns + ":t:" + l.db + ":" + table
}

func plainName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// entryDomain separates entry hashes from any other use of SHA-256.
const entryDomain = "cachedsql entry v1\x00"

// Entry returns the key of the cached result of st run with arguments
// whose hash is args. Its last part is the first 128 bits of
// SHA-256(domain, SHA-256(identity), SHA-256(st.Normalized), args), so it
// covers the database, the whole statement and every argument. The
// fingerprint part (the first 16 hex digits of st's Fingerprint, computed
// from Normalized) is there for people and tools reading keys. Entry
// allocates once.
func (l Layout) Entry(st *Statement, args Hash) string {
	normSum, sum := l.entrySum(st, args)
	var tail [16 + 1 + 32]byte // fingerprint prefix, ":", entry hash
	hex.Encode(tail[:16], normSum[:8])
	tail[16] = ':'
	hex.Encode(tail[17:], sum[:16])
	var b strings.Builder
	b.Grow(len(l.ns) + len(":q:") + len(l.db) + 1 + len(tail))
	b.WriteString(l.ns)
	b.WriteString(":q:")
	b.WriteString(l.db)
	b.WriteByte(':')
	b.Write(tail[:])
	return b.String()
}

// TableName returns the form of a table name that [Statement] uses in Reads and Writes, and that
// [Layout.Token] expects: unqualified, unquoted and lower-cased ("public.Users" and `"users"` both
// give "users"). It reads name as it would read it after FROM.
func TableName(name string) string {
	if st := Analyze("SELECT 1 FROM " + name); len(st.Reads) == 1 {
		return st.Reads[0]
	}
	return lowerASCII(name)
}

// KeyKind is the kind of a store key: the part of its name between the
// namespace and the next ":" (see [Layout]).
type KeyKind string

// The kinds of key a [Layout] builds.
const (
	KeyEntry      KeyKind = "q"    // a cached result ([Layout.Entry])
	KeyToken      KeyKind = "t"    // a table's token ([Layout.Token], [Layout.KeyedToken])
	KeyEpoch      KeyKind = "e"    // the namespace epoch ([Layout.Epoch])
	KeyLog        KeyKind = "log"  // the recent invalidations ([Layout.Log])
	KeyLive       KeyKind = "live" // the processes sharing the database ([Layout.Live])
	KeyGeneration KeyKind = "gen"  // the write generation ([Layout.Generation])
	KeyRow        KeyKind = "r"    // a row's token or a row entry ([Layout.RowToken], [Layout.RowEntry])
	KeyKeysets    KeyKind = "ks"   // a table's key column sets ([Layout.Keysets])
	KeyLease      KeyKind = "l"    // an entry's fill lease ([Layout.Lease])
	KeyHot        KeyKind = "h"    // a rule's hot entries ([Layout.Hot])
	KeyHotQueries KeyKind = "hq"   // a rule's hot statements ([Layout.HotQueries])
	KeyRuleIndex  KeyKind = "k"    // a rule's entries of one time bucket ([Layout.RuleIndex])
	KeyStats      KeyKind = "qs"   // per-statement statistics ([Layout.StatsIndex], [Layout.Stats], [Layout.StatsWrites])
)

// StatsOverflow is the digest part of the statistics key of the statements past the bound on
// digests (see [Layout.Stats]).
const StatsOverflow = "other"

// statsWrites is the part after the database of [Layout.StatsWrites].
const statsWrites = "w"

// StatsIndex returns the key of the sorted set of the digests ([Digest].Fingerprint) of this database
// that have statistics, scored by the Unix time of their last update: "<ns>:qs:<db8>".
func (l Layout) StatsIndex() string { return l.ns + ":qs:" + l.db }

// Stats returns the key of the hash of the statistics of the statements of this database whose
// digest fingerprint is digest (16 hex digits, or [StatsOverflow]): "<ns>:qs:<db8>:<digest>".
func (l Layout) Stats(digest string) string { return l.ns + ":qs:" + l.db + ":" + digest }

// StatsWrites returns the key of the hash of this database's writes per table, for statistics:
// "<ns>:qs:<db8>:w".
func (l Layout) StatsWrites() string { return l.ns + ":qs:" + l.db + ":" + statsWrites }

// keyKinds is the set of kinds [Layout.Parse] accepts.
var keyKinds = map[KeyKind]bool{
	KeyEntry: true, KeyToken: true, KeyEpoch: true, KeyLog: true, KeyLive: true, KeyGeneration: true,
	KeyRow: true, KeyKeysets: true, KeyLease: true, KeyHot: true, KeyHotQueries: true, KeyRuleIndex: true,
	KeyStats: true,
}

// Lease returns the key of the fill lease of the entry at key entry (from
// [Layout.Entry] or [Layout.RowEntry] of a layout of the same namespace):
// "<ns>:l:" and entry without its "<ns>:". It is scoped by the database as
// entry is, and a row entry's lease keeps the entry's Cluster hash tag.
func (l Layout) Lease(entry string) string {
	return l.ns + ":l:" + strings.TrimPrefix(entry, l.Prefix())
}

// Hot returns the key of the sorted set of the hot entries of the rule
// named rule in this database: "<ns>:h:<db8>:<rule>", rule escaped as the
// [Layout] doc says.
func (l Layout) Hot(rule string) string {
	return l.ns + ":h:" + l.db + ":" + escapeRule(rule)
}

// HotQueries returns the key of the sorted set of the hot statements of the
// rule named rule in this database, the statements of the entries of
// [Layout.Hot] by the same scores summed: "<ns>:hq:<db8>:<rule>", rule
// escaped as the [Layout] doc says. Its members name statements by
// fingerprint (and sqlc name), never by text.
func (l Layout) HotQueries(rule string) string {
	return l.ns + ":hq:" + l.db + ":" + escapeRule(rule)
}

// RuleIndex returns the key of the set of the entries of this database
// filled under the rule named rule in time bucket bucket (a number the
// caller derives from the time; it must not be negative):
// "<ns>:k:<db8>:<rule>:<bucket>", rule escaped as the [Layout] doc says.
func (l Layout) RuleIndex(rule string, bucket int64) string {
	return l.ns + ":k:" + l.db + ":" + escapeRule(rule) + ":" + strconv.FormatInt(bucket, 10)
}

// KindPrefix returns "<ns>:<kind>:", the start of the keys of that kind of
// every database of the namespace, for a tool that lists them (then checks
// each with [Layout.Parse]: a nested namespace such as "<ns>:x" shares the
// prefix of "<ns>").
func (l Layout) KindPrefix(kind KeyKind) string {
	return l.ns + ":" + string(kind) + ":"
}

// KeyName is what [Layout.Parse] reads from the name of a key.
type KeyName struct {
	// Kind is the key's kind.
	Kind KeyKind
	// Database is the db8 part of the key (16 hex digits): [Layout.Database]
	// of the layout that built it (for a lease, of the layout that built its
	// entry).
	Database string
	// Rule is the name of the rule of a hot set (of entries or statements) or a rule index, unescaped;
	// "" for the other kinds.
	Rule string
	// Bucket is the time bucket of a rule index; 0 for the other kinds.
	Bucket int64
	// Digest is, for a statistics key, the digest of [Layout.Stats] (16 hex digits or
	// [StatsOverflow]), "w" for [Layout.StatsWrites], "" for [Layout.StatsIndex]; "" for the other kinds.
	Digest string
}

// Parse reads the name of a key of any database of l's namespace. It
// reports false for a key outside the namespace or of a nested namespace,
// of an unknown kind, without a database part of 16 lower-case hex digits,
// or, for a hot set or a rule index, whose rule or bucket part is not one
// [Layout.Hot] or [Layout.RuleIndex] writes. For the other kinds it does not
// check what follows the database part.
func (l Layout) Parse(key string) (KeyName, bool) {
	rest, ok := strings.CutPrefix(key, l.Prefix())
	if !ok {
		return KeyName{}, false
	}
	kind, rest, _ := strings.Cut(rest, ":")
	k := KeyName{Kind: KeyKind(kind)}
	if !keyKinds[k.Kind] {
		return KeyName{}, false
	}
	if k.Kind == KeyLease { // "l:" then the entry key's kind, q or r
		entryKind, tail, _ := strings.Cut(rest, ":")
		if KeyKind(entryKind) != KeyEntry && KeyKind(entryKind) != KeyRow {
			return KeyName{}, false
		}
		rest = tail
	}
	var more bool
	k.Database, rest, more = strings.Cut(rest, ":")
	if !isDB8(k.Database) {
		return KeyName{}, false
	}
	switch k.Kind {
	case KeyHot, KeyHotQueries:
		k.Rule, ok = unescapeRule(rest)
		ok = ok && more
	case KeyStats:
		k.Digest = rest
		ok = !more || rest == StatsOverflow || rest == statsWrites || len(rest) == 16 && isHex(rest)
	case KeyRuleIndex: // more is implied: the rule and bucket parts hold a ":"
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return KeyName{}, false
		}
		if k.Rule, ok = unescapeRule(rest[:i]); ok {
			k.Bucket, ok = parseBucket(rest[i+1:])
		}
	}
	if !ok {
		return KeyName{}, false
	}
	return k, true
}

// isDB8 reports whether s is a db8 part: 16 lower-case hex digits.
func isDB8(s string) bool { return len(s) == 16 && isHex(s) }

// isHex reports whether s holds only lower-case hex digits.
func isHex(s string) bool {
	for i := range len(s) {
		if strings.IndexByte(hexDigits, s[i]) < 0 {
			return false
		}
	}
	return true
}

// parseBucket reads a bucket as [Layout.RuleIndex] writes it: a decimal
// number without sign or leading zero.
func parseBucket(s string) (int64, bool) {
	b, err := strconv.ParseInt(s, 10, 64)
	if err != nil || b < 0 || strconv.FormatInt(b, 10) != s {
		return 0, false
	}
	return b, true
}

// ruleByte reports whether c stands for itself in the rule part of a key.
func ruleByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// escapeRule returns the rule part of a key for the rule named name.
func escapeRule(name string) string {
	for i := range len(name) {
		if !ruleByte(name[i]) {
			return percentEscape(name, ruleByte)
		}
	}
	return name
}

// unescapeRule is the inverse of escapeRule: it returns false for a part
// escapeRule does not write (a bad or needless escape, upper-case hex).
func unescapeRule(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if !ruleByte(c) {
				return "", false
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+1]), strings.IndexByte(hexDigits, s[i+2])
		if hi < 0 || lo < 0 || ruleByte(byte(hi<<4|lo)) {
			return "", false
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), true
}
