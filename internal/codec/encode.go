package codec

import (
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Value tags: the first byte of every encoded value.
const (
	tagNil byte = iota
	tagInt64
	tagFloat64
	tagFalse
	tagTrue
	tagString
	tagBytesNil
	tagBytes
	tagTime
	tagInt
	tagInt32
	tagInt16
	tagInt8
	tagUint
	tagUint64
	tagUint32
	tagUint16
	tagUint8
	tagFloat32
)

// Column metadata bits.
const (
	colHasLength byte = 1 << iota
	colNullable
	colHasNullable
	colHasPrecisionScale
	knownColBits = colHasLength | colNullable | colHasNullable | colHasPrecisionScale
)

// trailerLen is the size of the body trailer: the string and byte heap lengths.
const trailerLen = 8

// heapSizes counts the bytes that the values section defers to the heaps.
type heapSizes struct {
	str, bin uint64
}

func appendHeader(dst []byte, e *Entry) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, e.Key)
	dst = binary.AppendUvarint(dst, uint64(len(e.Tokens)))
	for _, tok := range e.Tokens {
		dst = binary.LittleEndian.AppendUint64(dst, tok)
	}
	dst = appendInstant(dst, e.Created)
	dst = appendInstant(dst, e.Expires)
	dst = binary.AppendVarint(dst, int64(e.Delta))
	return binary.AppendUvarint(dst, uint64(e.Flags))
}

// appendInstant appends t as Unix seconds and nanoseconds, which round-trip every
// time.Time instant, the zero Time included.
func appendInstant(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

// appendBody appends the columns, the rows, both heaps and the trailer.
func appendBody(dst []byte, e *Entry) ([]byte, error) {
	var h heapSizes
	dst, err := appendColumns(dst, e.Columns, &h)
	if err != nil {
		return dst, err
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Rows)))
	for i, row := range e.Rows {
		for j, v := range row {
			if dst, err = appendValue(dst, v, &h); err != nil {
				return dst, fmt.Errorf("row %d column %d: %w", i, j, err)
			}
		}
	}
	if h.str > math.MaxUint32 || h.bin > math.MaxUint32 {
		return dst, fmt.Errorf("%w: more than 4 GiB of strings or bytes", ErrUnsupported)
	}
	dst = appendStringHeap(dst, e)
	dst = appendBytesHeap(dst, e)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(h.str))
	return binary.LittleEndian.AppendUint32(dst, uint32(h.bin)), nil
}

func appendColumns(dst []byte, cols []Column, h *heapSizes) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(cols)))
	for i := range cols {
		c := &cols[i]
		scan, err := scanTypeName(c.ScanType)
		if err != nil {
			return dst, fmt.Errorf("column %d (%q): %w", i, c.Name, err)
		}
		dst = binary.AppendUvarint(dst, uint64(len(c.Name)))
		dst = binary.AppendUvarint(dst, uint64(len(c.DatabaseType)))
		dst = binary.AppendUvarint(dst, uint64(len(scan)))
		h.str += uint64(len(c.Name) + len(c.DatabaseType) + len(scan))
		dst = append(dst, columnBits(c))
		dst = binary.AppendVarint(dst, c.Length)
		dst = binary.AppendVarint(dst, c.Precision)
		dst = binary.AppendVarint(dst, c.Scale)
	}
	return dst, nil
}

func columnBits(c *Column) byte {
	var bits byte
	if c.HasLength {
		bits |= colHasLength
	}
	if c.Nullable {
		bits |= colNullable
	}
	if c.HasNullable {
		bits |= colHasNullable
	}
	if c.HasPrecisionScale {
		bits |= colHasPrecisionScale
	}
	return bits
}

// appendValue appends the tag and the fixed part of v; the bytes of strings and
// []byte values are counted in h and appended later to the heaps.
func appendValue(dst []byte, v driver.Value, h *heapSizes) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, tagNil), nil
	case int64:
		return binary.AppendVarint(append(dst, tagInt64), v), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(dst, tagFloat64), math.Float64bits(v)), nil
	case bool:
		if v {
			return append(dst, tagTrue), nil
		}
		return append(dst, tagFalse), nil
	case string:
		h.str += uint64(len(v))
		return binary.AppendUvarint(append(dst, tagString), uint64(len(v))), nil
	case []byte:
		if v == nil {
			return append(dst, tagBytesNil), nil
		}
		h.bin += uint64(len(v))
		return binary.AppendUvarint(append(dst, tagBytes), uint64(len(v))), nil
	case time.Time:
		return appendTime(dst, v, h)
	case int:
		return binary.AppendVarint(append(dst, tagInt), int64(v)), nil
	case int32:
		return binary.AppendVarint(append(dst, tagInt32), int64(v)), nil
	case int16:
		return binary.AppendVarint(append(dst, tagInt16), int64(v)), nil
	case int8:
		return binary.AppendVarint(append(dst, tagInt8), int64(v)), nil
	case uint:
		return binary.AppendUvarint(append(dst, tagUint), uint64(v)), nil
	case uint64:
		return binary.AppendUvarint(append(dst, tagUint64), v), nil
	case uint32:
		return binary.AppendUvarint(append(dst, tagUint32), uint64(v)), nil
	case uint16:
		return binary.AppendUvarint(append(dst, tagUint16), uint64(v)), nil
	case uint8:
		return binary.AppendUvarint(append(dst, tagUint8), uint64(v)), nil
	case float32:
		return binary.LittleEndian.AppendUint32(append(dst, tagFloat32), math.Float32bits(v)), nil
	default:
		return dst, fmt.Errorf("%w: value of type %T", ErrUnsupported, v)
	}
}

// appendTime appends t as its instant followed by its location: UTC, Local, a
// zone name for time.LoadLocation, or a fixed zone's name and offset.
func appendTime(dst []byte, t time.Time, h *heapSizes) ([]byte, error) {
	kind, name, offset, err := locationOf(t)
	if err != nil {
		return dst, err
	}
	dst = appendInstant(append(dst, tagTime), t)
	dst = append(dst, kind)
	switch kind {
	case locNamed:
		h.str += uint64(len(name))
		dst = binary.AppendUvarint(dst, uint64(len(name)))
	case locFixed:
		h.str += uint64(len(name))
		dst = binary.AppendUvarint(dst, uint64(len(name)))
		dst = binary.AppendVarint(dst, int64(offset))
	}
	return dst, nil
}

// appendStringHeap appends the bytes of every string in the order the decoder
// takes them: column names, database types and scan type names, then string
// values and location names row by row. It mirrors appendColumns and appendValue.
func appendStringHeap(dst []byte, e *Entry) []byte {
	for i := range e.Columns {
		c := &e.Columns[i]
		scan, _ := scanTypeName(c.ScanType) // checked by appendColumns
		dst = append(dst, c.Name...)
		dst = append(dst, c.DatabaseType...)
		dst = append(dst, scan...)
	}
	for _, row := range e.Rows {
		for _, v := range row {
			switch v := v.(type) {
			case string:
				dst = append(dst, v...)
			case time.Time:
				if loc := v.Location(); loc != time.UTC && loc != time.Local {
					dst = append(dst, loc.String()...)
				}
			}
		}
	}
	return dst
}

// appendBytesHeap appends the bytes of every []byte value, row by row.
func appendBytesHeap(dst []byte, e *Entry) []byte {
	for _, row := range e.Rows {
		for _, v := range row {
			if v, ok := v.([]byte); ok {
				dst = append(dst, v...)
			}
		}
	}
	return dst
}
