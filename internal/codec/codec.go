// Package codec encodes a cached result set (generation tokens, timings, column
// metadata and rows) into a compact, versioned binary envelope and decodes it back.
//
// # Format
//
// An encoding is laid out as
//
//	magic "cQ" | version | header flags | header | body | CRC-32C
//
// The header holds the key tag (8 bytes, little endian, see [KeyTag]), the
// generation tokens (8 bytes each, little endian), the
// creation and expiry instants, the fill duration and the caller's flags, so
// [Peek] reads it without touching the body. The body holds the columns, the row
// count and one tagged value per cell; the bytes of every string and every []byte
// sit in two heaps at the end of the body, whose lengths close it in an 8-byte
// trailer. A body larger than 8 KiB is compressed with DEFLATE (header flag 1),
// prefixed by its decoded length. The last 4 bytes are a CRC-32C (Castagnoli) of
// everything before them.
//
// # Values
//
// A value keeps its exact dynamic type: nil, bool, string, []byte (nil and empty
// kept apart), int64, int32, int16, int8, int, uint64, uint32, uint16, uint8,
// uint, float64 and float32 (bit for bit, NaN payloads and -0 included) and
// time.Time. A time keeps its instant to the nanosecond and its location:
// time.UTC and time.Local come back as those pointers, a zone loaded by name
// comes back from time.LoadLocation of that name (one cached *time.Location per
// name), and a fixed zone, named or not, from time.FixedZone with the same name
// and offset. An unnamed location is taken to be a fixed zone. Any other value
// type or location makes [Encode] fail with [ErrUnsupported].
//
// # Row entries
//
// A result of exactly one row can also be encoded as the fields of a Redis hash ([EncodeRow],
// [DecodeRow]): one field per column, holding that value's encoding, and a meta field holding the
// envelope without rows plus a CRC-32C of the column fields, so that a missing, extra or altered field
// is reported as [ErrCorrupt].
//
// # Integrity
//
// An entry records the tag of the key it was written under ([Entry.Key],
// [KeyTag]); [Entry.CheckKey] reports an entry found under another key as
// [ErrCorrupt], so a valid entry copied or renamed to another key is not
// served as that key's.
//
// [Decode] verifies the CRC before anything else, so a flipped bit is reported as
// [ErrCorrupt] rather than as a wrong value or an [ErrUnknownType]. [Peek] skips
// the CRC for speed: a hit is always decoded before it is served, so a corrupt
// header can at worst cost a miss. Every count read from an encoding is bounded
// by the bytes that remain, and a compressed body by a 256 MiB cap and by the
// highest ratio DEFLATE can reach, so a short input never causes a large
// allocation.
//
// The functions of this package are safe for concurrent use.
package codec

import (
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"time"
)

// Column is the metadata of one result column, as the parent driver's rows reported it.
type Column struct {
	// Name is the column name (driver.Rows.Columns).
	Name string
	// DatabaseType is RowsColumnTypeDatabaseTypeName; "" when the parent lacks it.
	DatabaseType string
	// ScanType is RowsColumnTypeScanType; nil when the parent lacks it.
	// It must be registered (see [RegisterScanType]) to be encoded.
	ScanType reflect.Type
	// Length and HasLength are RowsColumnTypeLength's value and ok.
	Length    int64
	HasLength bool
	// Nullable and HasNullable are RowsColumnTypeNullable's nullable and ok.
	Nullable    bool
	HasNullable bool
	// Precision, Scale and HasPrecisionScale are RowsColumnTypePrecisionScale's results.
	Precision, Scale  int64
	HasPrecisionScale bool
}

// Entry is one cached result set. An Entry returned by [Decode] is not used by
// the codec afterwards; like any value, it may be read from several goroutines.
//
// A decoded Entry has nil Tokens, Columns and Rows where the encoded one had none;
// its Created and Expires are in UTC without a monotonic reading.
type Entry struct {
	// Key binds the entry to the store key it is written under: [KeyTag] of that key, which a reader
	// compares with the tag of the key it read (see [Entry.CheckKey]), so that an entry copied or
	// written to another key is never taken for that key's. Zero binds to no key.
	Key uint64
	// Tokens are the generation tokens read before the query: the epoch first, then one per table.
	Tokens []uint64
	// Created is when the fill finished. Only the instant is kept, not the location.
	Created time.Time
	// Expires is the logical expiry. Only the instant is kept, not the location.
	Expires time.Time
	// Delta is the measured database time of the fill.
	Delta time.Duration
	// Flags is opaque to the codec: which optional rows interfaces the parent's rows had.
	Flags uint32
	// Columns describes each column of Rows.
	Columns []Column
	// Rows holds the values, each row exactly len(Columns) long.
	Rows [][]driver.Value
}

var (
	// ErrCorrupt reports an encoding that is malformed, truncated, altered, of
	// another format version, or followed by trailing bytes.
	ErrCorrupt = errors.New("codec: corrupt entry")
	// ErrUnsupported reports a value or scan type that the codec cannot reproduce
	// exactly; the caller should simply not cache the result.
	ErrUnsupported = errors.New("codec: unsupported value")
	// ErrUnknownType reports a well-formed encoding naming a scan type or time zone
	// that this process does not know (another process or version wrote it).
	ErrUnknownType = errors.New("codec: unknown type")
)

const (
	magic0, magic1 = 'c', 'Q'
	// version 2 added Entry.Key.
	version   = 2
	prefixLen = 4 // magic, version, header flags
	crcLen    = 4

	// flagDeflate marks a body compressed with compress/flate.
	flagDeflate    = 1 << 0
	knownHeadFlags = flagDeflate
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode appends the encoding of e to dst and returns the extended slice.
// It fails with an error wrapping [ErrUnsupported] for a value kind, time
// location or scan type it cannot reproduce exactly, or for rows whose length
// differs from len(e.Columns); dst is then returned with its original length.
func Encode(dst []byte, e *Entry) ([]byte, error) {
	if err := checkShape(e); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, magic0, magic1, version, 0)
	dst = appendHeader(dst, e)
	bodyStart := len(dst)
	dst, err := appendBody(dst, e)
	if err != nil {
		return dst[:start], err
	}
	if len(dst)-bodyStart > compressThreshold {
		dst = compressBody(dst, start, bodyStart)
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli)), nil
}

// Decode parses an encoding made by [Encode]. Anything malformed, truncated,
// altered, of another magic or version, or followed by trailing bytes yields an
// error wrapping [ErrCorrupt]; a scan type or time zone unknown to this process
// yields an error wrapping [ErrUnknownType].
//
// The decoded strings of one Entry share one immutable backing allocation, and
// its []byte values share another (each with its capacity clipped to its length),
// so a string kept from a large Entry keeps all of that Entry's string bytes alive.
func Decode(b []byte) (*Entry, error) {
	if err := checkFrame(b); err != nil {
		return nil, err
	}
	n := len(b) - crcLen
	if got, want := crc32.Checksum(b[:n], castagnoli), binary.LittleEndian.Uint32(b[n:]); got != want {
		return nil, fmt.Errorf("%w: checksum %#08x, want %#08x", ErrCorrupt, got, want)
	}
	blk := new(entryBlock)
	r := reader{b: b[:len(b)-crcLen], off: prefixLen}
	r.header(&blk.e, blk.tok[:])
	if r.err != nil {
		return nil, r.err
	}
	flags := b[prefixLen-1]
	body, err := openBody(flags, r.b[r.off:])
	if err != nil {
		return nil, err
	}
	if err := decodeBody(body, flags&flagDeflate != 0, blk); err != nil {
		return nil, err
	}
	return &blk.e, nil
}

// Peek returns the recorded tokens and expiry of an encoding without decoding its
// columns and rows, and without verifying its checksum: the caller must [Decode]
// the entry before serving it.
func Peek(b []byte) (tokens []uint64, expires time.Time, err error) {
	if err := checkFrame(b); err != nil {
		return nil, time.Time{}, err
	}
	var e Entry
	r := reader{b: b[:len(b)-crcLen], off: prefixLen}
	r.header(&e, nil)
	if r.err != nil {
		return nil, time.Time{}, r.err
	}
	return e.Tokens, e.Expires, nil
}

// checkFrame checks the length, magic, version and header flags of b.
func checkFrame(b []byte) error {
	switch {
	case len(b) < prefixLen+crcLen:
		return fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(b))
	case b[0] != magic0 || b[1] != magic1:
		return fmt.Errorf("%w: bad magic %#x", ErrCorrupt, b[:2])
	case b[2] != version:
		return fmt.Errorf("%w: version %d, want %d", ErrCorrupt, b[2], version)
	case b[3]&^knownHeadFlags != 0:
		return fmt.Errorf("%w: unknown header flags %#x", ErrCorrupt, b[3])
	}
	return nil
}

// checkShape rejects entries whose rows the decoder could not size from the
// encoding: rows of the wrong length, and rows without columns.
func checkShape(e *Entry) error {
	if len(e.Columns) == 0 && len(e.Rows) > 0 {
		return fmt.Errorf("%w: %d rows without columns", ErrUnsupported, len(e.Rows))
	}
	for i, row := range e.Rows {
		if len(row) != len(e.Columns) {
			return fmt.Errorf("%w: row %d has %d values for %d columns", ErrUnsupported, i, len(row), len(e.Columns))
		}
	}
	return nil
}

// KeyTag returns the tag that binds an entry to the store key it is written under: the 64-bit FNV-1a
// hash of key, never 0. It is the same in every process.
func KeyTag(key string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := range len(key) {
		h ^= uint64(key[i])
		h *= prime
	}
	return h | 1 // never 0, which binds to no key
}

// CheckKey reports an error wrapping [ErrCorrupt] when e was not written under key: its Key is not
// KeyTag(key).
func (e *Entry) CheckKey(key string) error {
	if want := KeyTag(key); e.Key != want {
		return fmt.Errorf("%w: entry of key tag %#016x found under a key of tag %#016x", ErrCorrupt, e.Key, want)
	}
	return nil
}
