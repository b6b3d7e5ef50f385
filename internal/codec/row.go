package codec

import (
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"
)

// MetaField is the name of the hash field that holds everything of a row
// entry but its values (see [EncodeRow]). No column's field is named so.
const MetaField = "_meta"

// FieldNames returns the hash field name of each column of a row entry:
// column i's Name when it is not empty, does not start with "_" and no earlier
// column's field took it; otherwise "_" followed by i in decimal. The names are
// distinct, never [MetaField], and depend on cols alone.
func FieldNames(cols []Column) []string {
	names := make([]string, len(cols))
	used := make(map[string]bool, len(cols))
	for i := range cols {
		name := cols[i].Name
		if name == "" || strings.HasPrefix(name, "_") || used[name] {
			// Cannot collide: no name taken as-is starts with "_", and i is unique.
			names[i] = "_" + strconv.Itoa(i)
			continue
		}
		names[i] = name
		used[name] = true
	}
	return names
}

// EncodeRow encodes an entry of exactly one row as the fields of a hash, in
// the order name, value, name, value, …: [MetaField] first, then one field
// per column, named by [FieldNames].
//
// The meta field is the [Encode] envelope of e without its rows (tokens,
// times, delta, flags and columns) followed by a 4-byte little-endian CRC-32C
// (Castagnoli) over the column fields in order, each preceded by its length
// as a uvarint, so [DecodeRow] detects a missing, extra, renamed, swapped or
// altered field. A column field is the encoding of one value as in the body
// of [Encode] (same types, same exactness), with the bytes of a string, a
// []byte or a location name right after the value's fixed part instead of in
// a heap: a small integer takes two bytes.
//
// EncodeRow fails with an error wrapping [ErrUnsupported] when e has not
// exactly one row, and wherever [Encode] would.
func EncodeRow(e *Entry) ([]string, error) {
	if len(e.Rows) != 1 {
		return nil, fmt.Errorf("%w: a row entry needs exactly one row, not %d", ErrUnsupported, len(e.Rows))
	}
	if err := checkShape(e); err != nil {
		return nil, err
	}
	names := FieldNames(e.Columns)
	fields := make([]string, 2, 2+2*len(names))
	var buf []byte
	var crc uint32
	for i, v := range e.Rows[0] {
		var err error
		if buf, err = appendField(buf[:0], v); err != nil {
			return nil, fmt.Errorf("column %d: %w", i, err)
		}
		crc = fieldCRC(crc, buf)
		fields = append(fields, names[i], string(buf))
	}
	meta := *e
	meta.Rows = nil
	b, err := Encode(nil, &meta)
	if err != nil {
		return nil, err
	}
	fields[0], fields[1] = MetaField, string(binary.LittleEndian.AppendUint32(b, crc))
	return fields, nil
}

// appendField appends the hash field encoding of v: what appendValue writes,
// then the bytes that the body would defer to a heap.
func appendField(dst []byte, v driver.Value) ([]byte, error) {
	var h heapSizes
	dst, err := appendValue(dst, v, &h)
	if err != nil {
		return dst, err
	}
	switch v := v.(type) {
	case string:
		dst = append(dst, v...)
	case []byte:
		dst = append(dst, v...)
	case time.Time:
		if loc := v.Location(); loc != time.UTC && loc != time.Local {
			dst = append(dst, loc.String()...) // the name appendTime counted
		}
	}
	return dst, nil
}

// fieldCRC extends crc over the length of field and field itself.
func fieldCRC(crc uint32, field []byte) uint32 {
	var n [binary.MaxVarintLen64]byte
	crc = crc32.Update(crc, castagnoli, n[:binary.PutUvarint(n[:], uint64(len(field)))])
	return crc32.Update(crc, castagnoli, field)
}

// DecodeRow decodes the fields of a hash written from [EncodeRow] into an
// entry of one row. A missing or malformed meta field, a field count other
// than one per column plus the meta, a missing field, a checksum mismatch or
// a malformed value yields an error wrapping [ErrCorrupt]; a scan type or time
// zone unknown to this process yields an error wrapping [ErrUnknownType]. The
// checksum is verified before any value is decoded. Allocation is bounded by
// the size of fields.
//
// As with [Decode], the []byte values of the entry share one backing
// allocation, each with its capacity clipped to its length.
func DecodeRow(fields map[string]string) (*Entry, error) {
	meta, ok := fields[MetaField]
	if !ok {
		return nil, fmt.Errorf("%w: no %s field", ErrCorrupt, MetaField)
	}
	if len(meta) < crcLen {
		return nil, fmt.Errorf("%w: %s field of %d bytes is too short", ErrCorrupt, MetaField, len(meta))
	}
	e, err := Decode([]byte(meta[:len(meta)-crcLen]))
	switch {
	case err != nil:
		return nil, err
	case len(e.Rows) != 0 || len(e.Columns) == 0:
		return nil, fmt.Errorf("%w: %s field has %d rows of %d columns, want none of at least one",
			ErrCorrupt, MetaField, len(e.Rows), len(e.Columns))
	case len(fields) != 1+len(e.Columns):
		return nil, fmt.Errorf("%w: %d fields for %d columns", ErrCorrupt, len(fields), len(e.Columns))
	}
	values, err := columnFields(fields, FieldNames(e.Columns))
	if err != nil {
		return nil, err
	}
	var crc uint32
	for _, v := range values {
		crc = fieldCRC(crc, v)
	}
	if want := binary.LittleEndian.Uint32([]byte(meta[len(meta)-crcLen:])); crc != want {
		return nil, fmt.Errorf("%w: field checksum %#08x, want %#08x", ErrCorrupt, crc, want)
	}
	row := make([]driver.Value, len(values))
	for i, v := range values {
		if row[i], err = decodeField(v); err != nil {
			return nil, fmt.Errorf("column %d: %w", i, err)
		}
	}
	e.Rows = [][]driver.Value{row}
	return e, nil
}

// columnFields copies the field of each name, in order, into one allocation
// and returns a full slice expression of it per field.
func columnFields(fields map[string]string, names []string) ([][]byte, error) {
	total := 0
	for _, name := range names {
		v, ok := fields[name]
		if !ok {
			return nil, fmt.Errorf("%w: no field %q", ErrCorrupt, name)
		}
		total += len(v)
	}
	buf := make([]byte, 0, total)
	out := make([][]byte, len(names))
	for i, name := range names {
		start := len(buf)
		buf = append(buf, fields[name]...)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out, nil
}

// decodeField decodes what appendField wrote; b must hold exactly one value.
func decodeField(b []byte) (driver.Value, error) {
	d := bodyDecoder{reader: reader{b: b}, inline: true}
	v := d.value()
	switch {
	case d.err != nil:
		return nil, d.err
	case d.off != len(b):
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrCorrupt, len(b)-d.off)
	}
	return v, nil
}
