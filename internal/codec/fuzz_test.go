package codec

import (
	"database/sql/driver"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the seed corpus in testdata/codec")

// corpusDir holds the seed corpus; Go's own fuzz cache stays in testdata/fuzz.
const corpusDir = "../../testdata/codec"

// corpusEntries are the entries whose encodings form the seed corpus. Their
// files also pin the format: each must still decode to its entry.
func corpusEntries() map[string]*Entry {
	instant := time.Date(2024, 2, 29, 23, 59, 59, 999, time.UTC)
	return map[string]*Entry{
		"empty":      {},
		"one-row":    sampleEntry(1),
		"ten-rows":   sampleEntry(10),
		"compressed": sampleEntry(300),
		"kinds": {Tokens: []uint64{7}, Columns: sampleColumns(6), Rows: [][]driver.Value{
			{nil, int64(-1), math.NaN(), "x\x00\xff", []byte(nil), []byte{}},
			{true, false, int32(-5), uint8(7), float32(math.Inf(-1)), uint64(math.MaxUint64)},
			{instant, instant.Local(), instant.In(time.FixedZone("", -3*3600-1800)),
				instant.In(time.FixedZone("ABC", 60)), instant.In(time.FixedZone("", 3600)), int8(-8)},
		}},
		"named-zone": {Columns: sampleColumns(1), Rows: [][]driver.Value{
			{time.Date(2024, 11, 3, 1, 30, 0, 0, mustLoadOrUTC("America/New_York"))},
		}},
	}
}

func mustLoadOrUTC(name string) *time.Location {
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	return time.UTC
}

func TestCorpus(t *testing.T) {
	for name, e := range corpusEntries() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(corpusDir, name+".bin")
			if *update {
				if err := os.WriteFile(path, mustEncode(t, e), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create the corpus)", err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", path, err)
			}
			if diff := diffEntry(got, e); diff != "" {
				t.Errorf("%s: %s", path, diff)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range corpusEntries() {
		f.Add(mustEncode(f, e))
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.bin"))
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
		// Most mutations break the checksum; fix it so they reach the parser.
		checkDecode(t, reseal(b))
	})
}

// checkDecode decodes b, which may be anything. Whatever decodes must peek to
// the same header and re-encode to bytes that decode to the same entry.
func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	_, _, _ = Peek(b)
	var e *Entry
	var err error
	allocated := bytesAllocated(func() { e, err = Decode(b) })
	ratio := 64
	if len(b) > prefixLen && b[prefixLen-1]&flagDeflate != 0 {
		ratio *= maxDeflateRatio
	}
	if limit := uint64(ratio*len(b) + 1<<20); allocated > limit {
		t.Fatalf("Decode of %d bytes allocated %d bytes, limit %d", len(b), allocated, limit)
	}
	if err != nil {
		return
	}
	tokens, expires, err := Peek(b)
	if err != nil || len(tokens) != len(e.Tokens) || !expires.Equal(e.Expires) {
		t.Fatalf("Peek = %v, %v, %v; Decode gave %v, %v", tokens, expires, err, e.Tokens, e.Expires)
	}
	again, err := Decode(mustEncode(t, e))
	if err != nil {
		t.Fatalf("decoding the re-encoding: %v", err)
	}
	if diff := diffEntry(again, e); diff != "" {
		t.Fatalf("re-encoding changed the entry: %s", diff)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(1), uint64(math.Float64bits(1.5)), "s", []byte("b"), int64(1e9), uint32(5), int32(3600), "", uint8(0))
	f.Add(int64(-1), uint64(0x7ff8_0000_0000_0001), "\xff", []byte(nil), int64(-1e12), uint32(999_999_999), int32(-1), "Z", uint8(3))
	f.Add(int64(math.MinInt64), uint64(1<<63), "", []byte{}, int64(math.MaxInt64), uint32(0), int32(0), "UTC", uint8(2))
	zones := []*time.Location{time.UTC, time.Local, mustLoadOrUTC("Asia/Kolkata"), mustLoadOrUTC("America/New_York")}
	f.Fuzz(func(t *testing.T, i int64, fbits uint64, s string, b []byte,
		sec int64, nsec uint32, offset int32, zone string, kind uint8) {
		loc := time.FixedZone(zone, int(offset))
		if kind%8 < 4 {
			loc = zones[kind%4]
		}
		row := []driver.Value{
			i, math.Float64frombits(fbits), s, b, time.Unix(sec, int64(nsec%1e9)).In(loc),
			int32(i), int16(i), int8(i), int(i), uint(fbits), uint32(fbits), uint16(fbits), uint8(fbits),
			uint64(fbits), math.Float32frombits(uint32(fbits)), i%2 == 0, nil,
		}
		if kind&8 != 0 {
			row[3] = []byte(nil)
		}
		want := &Entry{
			Tokens:  []uint64{fbits, uint64(i)},
			Created: time.Unix(sec, 0).UTC(),
			Expires: time.Unix(0, i).UTC(),
			Delta:   time.Duration(i),
			Flags:   uint32(offset),
			Columns: sampleColumns(len(row)),
			Rows:    [][]driver.Value{row, row},
		}
		if diff := diffEntry(roundTrip(t, want), want); diff != "" {
			t.Fatal(diff)
		}
		want.Rows = want.Rows[:1]
		if diff := diffEntry(rowRoundTrip(t, want), want); diff != "" {
			t.Fatalf("EncodeRow, DecodeRow: %s", diff)
		}
	})
}
