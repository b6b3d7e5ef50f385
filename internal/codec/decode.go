package codec

import (
	"bytes"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// entryBlock lets one allocation hold an Entry together with the tokens, the
// row slice and the values of the common small case: a lookup by key, one row
// of a few columns.
type entryBlock struct {
	e    Entry
	tok  [4]uint64
	row  [1][]driver.Value
	vals [8]driver.Value
}

// reader consumes b from off. The first failure is kept in err; later reads
// then return zero values, so callers check err once after a group of reads.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint at offset %d", r.off)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint at offset %d", r.off)
		return 0
	}
	r.off += n
	return v
}

// signed reads a varint that must lie in [lo, hi].
func (r *reader) signed(lo, hi int64) int64 {
	v := r.varint()
	if v < lo || v > hi {
		r.fail("integer %d out of range [%d, %d]", v, lo, hi)
		return 0
	}
	return v
}

// unsigned reads a uvarint that must not exceed hi.
func (r *reader) unsigned(hi uint64) uint64 {
	v := r.uvarint()
	if v > hi {
		r.fail("integer %d above %d", v, hi)
		return 0
	}
	return v
}

// fixed returns the next n bytes.
func (r *reader) fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	if r.remaining() < n {
		r.fail("%d bytes needed at offset %d, %d left", n, r.off, r.remaining())
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

func (r *reader) u8() byte {
	if p := r.fixed(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.fixed(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.fixed(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// count reads a count of items that each take at least size bytes, so that it
// can never exceed what the remaining bytes could hold.
func (r *reader) count(size int) int {
	n := r.uvarint()
	if max := uint64(r.remaining() / size); n > max {
		r.fail("count %d exceeds the %d that %d bytes can hold", n, max, r.remaining())
		return 0
	}
	return int(n)
}

// instant reads what appendInstant wrote, as a UTC time.
func (r *reader) instant() time.Time {
	sec := r.varint()
	nsec := r.unsigned(999_999_999)
	return time.Unix(sec, int64(nsec)).UTC()
}

// header fills the header fields of e, taking the tokens from buf when they fit.
func (r *reader) header(e *Entry, buf []uint64) {
	e.Key = r.u64()
	if n := r.count(8); n > 0 {
		if n <= len(buf) {
			e.Tokens = buf[:n:n]
		} else {
			e.Tokens = make([]uint64, n)
		}
		for i := range e.Tokens {
			e.Tokens[i] = r.u64()
		}
	}
	e.Created = r.instant()
	e.Expires = r.instant()
	e.Delta = time.Duration(r.varint())
	e.Flags = uint32(r.unsigned(math.MaxUint32))
}

// bodyDecoder reads the columns and rows of a body; strings and []byte values
// are taken in order from the two heaps. With inline set, there are no heaps:
// the bytes of each string and []byte follow the fixed part of their value in
// the reader (the layout of one hash field, see [EncodeRow]).
type bodyDecoder struct {
	reader
	str    string // immutable: every decoded string is a substring of it
	strOff int
	bin    []byte // every decoded []byte is a full slice expression of it
	binOff int
	inline bool
}

// decodeBody decodes an uncompressed body into blk. When body is private to
// this call (a decompressed buffer), []byte values alias it instead of a copy.
func decodeBody(body []byte, private bool, blk *entryBlock) error {
	if len(body) < trailerLen {
		return fmt.Errorf("%w: body of %d bytes has no trailer", ErrCorrupt, len(body))
	}
	end := len(body) - trailerLen
	strLen := uint64(binary.LittleEndian.Uint32(body[end:]))
	binLen := uint64(binary.LittleEndian.Uint32(body[end+4:]))
	if strLen+binLen > uint64(end) {
		return fmt.Errorf("%w: heaps of %d and %d bytes exceed a body of %d", ErrCorrupt, strLen, binLen, end)
	}
	binStart := end - int(binLen)
	strStart := binStart - int(strLen)
	d := bodyDecoder{
		reader: reader{b: body[:strStart]},
		str:    string(body[strStart:binStart]),
		bin:    body[binStart:end:end],
	}
	if !private {
		d.bin = bytes.Clone(d.bin)
	}
	d.columns(&blk.e)
	d.rows(blk)
	switch {
	case d.err != nil:
		return d.err
	case d.off != len(d.b) || d.strOff != len(d.str) || d.binOff != len(d.bin):
		return fmt.Errorf("%w: %d value bytes, %d string bytes and %d heap bytes left over",
			ErrCorrupt, len(d.b)-d.off, len(d.str)-d.strOff, len(d.bin)-d.binOff)
	}
	return nil
}

func (d *bodyDecoder) takeString(n uint64) string {
	if d.err != nil {
		return ""
	}
	if d.inline {
		return string(d.takeInline(n))
	}
	if n > uint64(len(d.str)-d.strOff) {
		d.fail("string of %d bytes exceeds the %d left", n, len(d.str)-d.strOff)
		return ""
	}
	d.strOff += int(n)
	return d.str[d.strOff-int(n) : d.strOff]
}

func (d *bodyDecoder) takeBytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if d.inline {
		return d.takeInline(n)
	}
	if n > uint64(len(d.bin)-d.binOff) {
		d.fail("[]byte of %d bytes exceeds the %d left", n, len(d.bin)-d.binOff)
		return nil
	}
	d.binOff += int(n)
	return d.bin[d.binOff-int(n) : d.binOff : d.binOff]
}

// takeInline returns the next n bytes of the reader, capacity clipped.
func (d *bodyDecoder) takeInline(n uint64) []byte {
	if n > uint64(d.remaining()) {
		d.fail("%d bytes needed at offset %d, %d left", n, d.off, d.remaining())
		return nil
	}
	p := d.fixed(int(n))
	return p[:n:n]
}

// minColumnLen is the smallest encoding of a column: three lengths, the bits and
// three varints.
const minColumnLen = 7

func (d *bodyDecoder) columns(e *Entry) {
	n := d.count(minColumnLen)
	if n == 0 {
		return
	}
	e.Columns = make([]Column, n)
	for i := range e.Columns {
		d.column(&e.Columns[i])
		if d.err != nil {
			return
		}
	}
}

func (d *bodyDecoder) column(c *Column) {
	nameLen, dbLen, scanLen := d.uvarint(), d.uvarint(), d.uvarint()
	bits := d.u8()
	c.Length, c.Precision, c.Scale = d.varint(), d.varint(), d.varint()
	if bits&^knownColBits != 0 {
		d.fail("unknown column bits %#x", bits)
	}
	c.HasLength = bits&colHasLength != 0
	c.Nullable = bits&colNullable != 0
	c.HasNullable = bits&colHasNullable != 0
	c.HasPrecisionScale = bits&colHasPrecisionScale != 0
	c.Name, c.DatabaseType = d.takeString(nameLen), d.takeString(dbLen)
	scan := d.takeString(scanLen)
	if d.err != nil || scan == "" {
		return
	}
	var ok bool
	if c.ScanType, ok = lookupScanType(scan); !ok {
		d.err = fmt.Errorf("%w: scan type %q", ErrUnknownType, scan)
	}
}

func (d *bodyDecoder) rows(blk *entryBlock) {
	n := d.uvarint()
	cols := len(blk.e.Columns)
	switch {
	case d.err != nil || n == 0:
		return
	case cols == 0:
		d.fail("%d rows without columns", n)
		return
	case n > uint64(d.remaining()/cols):
		d.fail("%d rows of %d columns exceed the %d bytes left", n, cols, d.remaining())
		return
	}
	var values []driver.Value
	if n == 1 && cols <= len(blk.vals) {
		values = blk.vals[:cols]
	} else {
		values = make([]driver.Value, int(n)*cols)
	}
	rows := blk.row[:]
	if n > 1 {
		rows = make([][]driver.Value, n)
	}
	for i := range rows {
		row := values[i*cols : (i+1)*cols : (i+1)*cols]
		for j := range row {
			row[j] = d.value()
		}
		if d.err != nil {
			return
		}
		rows[i] = row
	}
	blk.e.Rows = rows
}

// value decodes one value; it is the inverse of appendValue.
func (d *bodyDecoder) value() driver.Value {
	switch tag := d.u8(); tag {
	case tagNil:
		return nil
	case tagInt64:
		return d.varint()
	case tagFloat64:
		return math.Float64frombits(d.u64())
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagString:
		return d.takeString(d.uvarint())
	case tagBytesNil:
		return []byte(nil)
	case tagBytes:
		return d.takeBytes(d.uvarint())
	case tagTime:
		return d.timeValue()
	case tagInt:
		return int(d.signed(math.MinInt, math.MaxInt))
	case tagInt32:
		return int32(d.signed(math.MinInt32, math.MaxInt32))
	case tagInt16:
		return int16(d.signed(math.MinInt16, math.MaxInt16))
	case tagInt8:
		return int8(d.signed(math.MinInt8, math.MaxInt8))
	case tagUint:
		return uint(d.unsigned(math.MaxUint))
	case tagUint64:
		return d.uvarint()
	case tagUint32:
		return uint32(d.unsigned(math.MaxUint32))
	case tagUint16:
		return uint16(d.unsigned(math.MaxUint16))
	case tagUint8:
		return uint8(d.unsigned(math.MaxUint8))
	case tagFloat32:
		return math.Float32frombits(d.u32())
	default:
		d.fail("unknown value tag %d", tag)
		return nil
	}
}

// timeValue decodes what appendTime wrote.
func (d *bodyDecoder) timeValue() time.Time {
	t := time.Unix(d.varint(), int64(d.unsigned(999_999_999))) // in time.Local
	switch kind := d.u8(); kind {
	case locUTC:
		return t.UTC()
	case locLocal:
		return t
	case locNamed:
		name := d.takeString(d.uvarint())
		if d.err != nil {
			return time.Time{}
		}
		loc, err := loadLocation(name)
		if err != nil {
			d.err = fmt.Errorf("%w: time zone %q: %v", ErrUnknownType, name, err)
			return time.Time{}
		}
		return t.In(loc)
	case locFixed:
		// The offset is read before the name is taken: in the inline layout
		// the name's bytes follow the offset.
		n := d.uvarint()
		offset := d.signed(math.MinInt32, math.MaxInt32)
		name := d.takeString(n)
		return t.In(fixedZone(name, int(offset)))
	default:
		d.fail("unknown location kind %d", kind)
		return time.Time{}
	}
}
