package codec

import (
	"fmt"
	"testing"
	"time"
)

var (
	sinkBytes []byte
	sinkEntry *Entry
)

var benchSizes = []int{1, 100, 10_000}

func BenchmarkEncode(b *testing.B) {
	for _, rows := range benchSizes {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			e := sampleEntry(rows)
			buf := mustEncode(b, e)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = Encode(buf[:0], e); err != nil {
					b.Fatal(err)
				}
			}
			sinkBytes = buf
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, rows := range benchSizes {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			buf := mustEncode(b, sampleEntry(rows))
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				e, err := Decode(buf)
				if err != nil {
					b.Fatal(err)
				}
				sinkEntry = e
			}
		})
	}
}

func BenchmarkPeek(b *testing.B) {
	buf := mustEncode(b, sampleEntry(100))
	b.ReportAllocs()
	for b.Loop() {
		tokens, _, err := Peek(buf)
		if err != nil || len(tokens) == 0 {
			b.Fatal(tokens, err)
		}
	}
}

func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts in -short mode are not checked")
	}
	e := sampleEntry(1)
	e.Rows[0][3] = e.Rows[0][3].(time.Time).Local()
	buf := mustEncode(t, e)
	tests := []struct {
		name string
		max  float64
		f    func()
	}{
		// The Entry block, columns, values, the two heaps, and one box for each
		// of the five values.
		{"Decode 1x5", 10, func() { sinkEntry, _ = Decode(buf) }},
		{"Encode 1x5 into a buffer", 0, func() { sinkBytes, _ = Encode(buf[:0], e) }},
		{"Encode 100x5 into a buffer", 0, func() {
			sinkBytes, _ = Encode(sinkBytes[:0], sampleEntryCached)
		}},
		{"Peek", 1, func() { _, _, _ = Peek(buf) }},
	}
	sinkBytes = mustEncode(t, sampleEntryCached)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.f); got > tt.max {
				t.Errorf("%s: %v allocations, want at most %v", tt.name, got, tt.max)
			}
		})
	}
}

// sampleEntryCached is built once so that TestAllocs counts Encode alone.
var sampleEntryCached = sampleEntry(100)
