package keying

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// DefaultNamespace is the namespace NewLayout uses for "".
const DefaultNamespace = "cachedsql"

// Layout names every store key under one namespace for one database
// identity (see [Identity]). Keys are printable ASCII and hold no argument
// value and no identity text: the identity is hashed, and db8 below is the
// first 16 hex digits of its SHA-256. The forms are stable:
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
//
// The caching layer adds, under the same prefix and outside this type: <ns>:l:… fill leases,
// <ns>:h:<rule> a rule's hot entries (a sorted set), and <ns>:k:<rule>:<bucket> a rule's live
// entries filled in one time bucket (a set, for flushing a rule).
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
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && c != '%' {
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
