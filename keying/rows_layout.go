package keying

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
)

// RowToken returns the key of the generation token of the rows named by h
// (from [RowHash]): "<ns>:r:<db8>:{<32 hex of h>}". The braces are a Redis
// Cluster hash tag, so a row's token and its entries ([Layout.RowEntry])
// share one slot. NOTE: a namespace holding "{…}" has its own hash tag,
// which then wins: every key of the namespace lands in one slot. WARNING: a
// namespace whose first "{" is directly followed by "}" ("a{}b") turns hash
// tags off for all its keys (Redis then hashes the whole key), so a row's
// token and entries may land in different slots: on Redis Cluster, do not
// use such a namespace with row rules.
func (l Layout) RowToken(h Hash) string {
	var b strings.Builder
	b.Grow(len(l.ns) + len(":r:") + len(l.db) + 2 + 32 + 1)
	b.WriteString(l.ns)
	b.WriteString(":r:")
	b.WriteString(l.db)
	b.WriteString(":{")
	b.WriteString(h.String())
	b.WriteByte('}')
	return b.String()
}

// RowEntry returns the key of the cached row entry of st run with arguments
// whose hash is args, under the row token key rowToken (from
// [Layout.RowToken]): rowToken, ":", the first 16 hex digits of st's
// fingerprint, ":", and the 32 hex digits of the hash [Layout.Entry]
// computes (identity, statement, arguments). It starts with rowToken
// exactly, so it shares the token's Cluster slot.
func (l Layout) RowEntry(rowToken string, st *Statement, args Hash) string {
	normSum, sum := l.entrySum(st, args)
	var tail [1 + 16 + 1 + 32]byte
	tail[0] = ':'
	hex.Encode(tail[1:17], normSum[:8])
	tail[17] = ':'
	hex.Encode(tail[18:], sum[:16])
	return rowToken + string(tail[:])
}

// entrySum returns the SHA-256 of st.Normalized and the entry hash of st
// and args, for [Layout.Entry] and [Layout.RowEntry].
func (l Layout) entrySum(st *Statement, args Hash) (normSum, sum [32]byte) {
	normSum = st.sum
	if !st.has { // a Statement not made by Analyze
		normSum = sha256.Sum256([]byte(st.Normalized))
	}
	var in [len(entryDomain) + 32 + 32 + len(Hash{})]byte
	n := copy(in[:], entryDomain)
	n += copy(in[n:], l.idSum[:])
	n += copy(in[n:], normSum[:])
	copy(in[n:], args[:])
	return normSum, sha256.Sum256(in[:])
}

// keysetDomain separates column-set hashes from any other use of SHA-256.
const keysetDomain = "cachedsql keyset v1\x00"

// KeyedToken returns the key of the generation token of every row entry of
// table keyed by the columns cols (in any order; duplicates count once):
// [Layout.Token] of table, ":k:" and 16 hex digits of a hash of the sorted
// column set. It never equals a Token key, whose table part holds no ":".
func (l Layout) KeyedToken(table string, cols []string) string {
	set := columnSet(cols)
	buf := append([]byte(keysetDomain), binary.AppendUvarint(nil, uint64(len(set)))...)
	for _, c := range set {
		buf = appendString(buf, c)
	}
	sum := sha256.Sum256(buf)
	return l.Token(table) + ":k:" + hex.EncodeToString(sum[:8])
}

// Keysets returns the key of the set of the column sets by which row
// entries of table are keyed (members from [KeysetName]):
// "<ns>:ks:<db8>:<table part>", the table part as in [Layout.Token].
func (l Layout) Keysets(table string) string {
	tok := l.Token(table)
	return l.ns + ":ks:" + l.db + ":" + tok[len(l.ns)+len(":t:")+len(l.db)+1:]
}

// columnSet returns cols sorted, without duplicates, in a new slice.
func columnSet(cols []string) []string {
	set := slices.Clone(cols)
	slices.Sort(set)
	return slices.Compact(set)
}

// KeysetName returns the member naming the column set cols (in any order;
// duplicates count once) in a [Layout.Keysets] set: the sorted columns
// joined by ",", each byte outside printable ASCII and each "," and "%"
// written as %XX (upper-case hex). The empty set gives "", which
// [ParseKeysetName] refuses.
func KeysetName(cols []string) string {
	var b strings.Builder
	for i, c := range columnSet(cols) {
		if i > 0 {
			b.WriteByte(',')
		}
		for j := 0; j < len(c); j++ {
			ch := c[j]
			if ch > ' ' && ch < 0x7f && ch != '%' && ch != ',' {
				b.WriteByte(ch)
				continue
			}
			b.WriteByte('%')
			b.WriteByte(upperHex[ch>>4])
			b.WriteByte(upperHex[ch&15])
		}
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// ParseKeysetName is the inverse of [KeysetName]: it returns the sorted
// columns a member names, and false for anything KeysetName does not
// produce (empty text, an empty column, a bad or needless escape, columns
// out of order or repeated).
func ParseKeysetName(s string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	var cols []string
	for _, part := range strings.Split(s, ",") {
		var b strings.Builder
		for j := 0; j < len(part); j++ {
			if part[j] != '%' {
				b.WriteByte(part[j])
				continue
			}
			if j+2 >= len(part) {
				return nil, false
			}
			hi, lo := strings.IndexByte(upperHex, part[j+1]), strings.IndexByte(upperHex, part[j+2])
			if hi < 0 || lo < 0 {
				return nil, false
			}
			b.WriteByte(byte(hi<<4 | lo))
			j += 2
		}
		if b.Len() == 0 {
			return nil, false
		}
		cols = append(cols, b.String())
	}
	if KeysetName(cols) != s { // needless escapes, order, duplicates
		return nil, false
	}
	return cols, true
}
