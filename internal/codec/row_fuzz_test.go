package codec

import (
	"database/sql/driver"
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

// frameFields flattens hash fields into bytes for the fuzzer: for each
// field, in name order, the uvarint length and bytes of its name, then of its
// value.
func frameFields(fields map[string]string) []byte {
	var b []byte
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(fields[k])))
		b = append(b, fields[k]...)
	}
	return b
}

// unframeFields is the inverse of frameFields; it stops at the first
// malformed length, so that any input gives some fields.
func unframeFields(b []byte) map[string]string {
	fields := make(map[string]string)
	next := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	for len(b) > 0 {
		name, ok := next()
		if !ok {
			break
		}
		value, ok := next()
		if !ok {
			break
		}
		fields[name] = value
	}
	return fields
}

func FuzzDecodeRow(f *testing.F) {
	for _, e := range corpusEntries() {
		if len(e.Rows) > 0 {
			one := *e
			one.Rows = e.Rows[:1]
			f.Add(frameFields(rowFields(f, &one)))
		}
	}
	f.Add(frameFields(rowFields(f, &Entry{
		Columns: []Column{{Name: "_x"}, {Name: "a"}, {Name: "a"}, {}},
		Rows:    [][]driver.Value{{"s", []byte(nil), time.Unix(1, 2).In(time.FixedZone("Z", 60)), nil}},
	})))
	f.Fuzz(func(t *testing.T, b []byte) {
		fields := unframeFields(b)
		checkDecodeRow(t, fields)
		// Most mutations break a checksum; fix both so they reach the parsers.
		checkDecodeRow(t, resealRow(fields))
	})
}

// checkDecodeRow decodes fields, which may hold anything. Whatever decodes
// must be one row that encodes again to fields decoding to the same entry.
func checkDecodeRow(t *testing.T, fields map[string]string) {
	t.Helper()
	size := 0
	for k, v := range fields {
		size += len(k) + len(v)
	}
	var e *Entry
	var err error
	allocated := bytesAllocated(func() { e, err = DecodeRow(fields) })
	ratio := 64
	if meta := fields[MetaField]; len(meta) > prefixLen && meta[prefixLen-1]&flagDeflate != 0 {
		ratio *= maxDeflateRatio
	}
	if limit := uint64(ratio*size + 1<<20); allocated > limit {
		t.Fatalf("DecodeRow of %d bytes allocated %d bytes, limit %d", size, allocated, limit)
	}
	if err != nil {
		return
	}
	if len(e.Rows) != 1 || len(e.Rows[0]) != len(e.Columns) {
		t.Fatalf("DecodeRow gave %d rows for %d columns, want one full row", len(e.Rows), len(e.Columns))
	}
	again, err := DecodeRow(rowFields(t, e))
	if err != nil {
		t.Fatalf("decoding the re-encoding: %v", err)
	}
	if diff := diffEntry(again, e); diff != "" {
		t.Fatalf("re-encoding changed the entry: %s", diff)
	}
}
