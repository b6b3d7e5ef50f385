package codec

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"reflect"
	"runtime"
	"testing"
)

// corruptionSamples are valid encodings to damage: small, all kinds, compressed.
func corruptionSamples(t *testing.T) map[string][]byte {
	t.Helper()
	compressed := mustEncode(t, sampleEntry(400))
	if compressed[3]&flagDeflate == 0 {
		t.Fatal("the large sample was not compressed")
	}
	return map[string][]byte{
		"empty":      mustEncode(t, &Entry{}),
		"one row":    mustEncode(t, sampleEntry(1)),
		"compressed": compressed,
	}
}

func TestDecodeTruncated(t *testing.T) {
	for name, b := range corruptionSamples(t) {
		t.Run(name, func(t *testing.T) {
			for n := range len(b) {
				if _, err := Decode(b[:n]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Decode of the first %d of %d bytes: error %v, want ErrCorrupt", n, len(b), err)
				}
				_, _, _ = Peek(b[:n]) // must not panic; see TestPeekTruncated
			}
		})
	}
}

func TestPeekTruncated(t *testing.T) {
	e := sampleEntry(3)
	b := mustEncode(t, e)
	// Peek reads the header from everything but the last 4 bytes, so it needs
	// exactly the prefix, the header and 4 more bytes.
	need := prefixLen + len(appendHeader(nil, e)) + crcLen
	for n := range len(b) + 1 {
		tokens, _, err := Peek(b[:n])
		switch {
		case n < need && !errors.Is(err, ErrCorrupt):
			t.Fatalf("Peek of %d bytes: error %v, want ErrCorrupt", n, err)
		case n >= need && (err != nil || !reflect.DeepEqual(tokens, e.Tokens)):
			t.Fatalf("Peek of %d bytes = %v, %v; want %v, nil", n, tokens, err, e.Tokens)
		}
	}
}

func TestDecodeBitFlips(t *testing.T) {
	for name, b := range corruptionSamples(t) {
		t.Run(name, func(t *testing.T) {
			flipped := make([]byte, len(b))
			for i := range len(b) * 8 {
				copy(flipped, b)
				flipped[i/8] ^= 1 << (i % 8)
				if _, err := Decode(flipped); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Decode with bit %d flipped: error %v, want ErrCorrupt", i, err)
				}
				_, _, _ = Peek(flipped) // must not panic
			}
		})
	}
}

func TestDecodeBadFrame(t *testing.T) {
	valid := mustEncode(t, sampleEntry(2))
	edit := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), valid...))
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"wrong magic", reseal(edit(func(b []byte) []byte { b[0] = 'x'; return b }))},
		{"wrong version", reseal(edit(func(b []byte) []byte { b[2] = version + 1; return b }))},
		{"unknown header flag", reseal(edit(func(b []byte) []byte { b[3] |= 0x80; return b }))},
		{"trailing byte", edit(func(b []byte) []byte { return append(b, 0) })},
		{"trailing byte resealed", reseal(edit(func(b []byte) []byte {
			return append(b[:len(b)-crcLen], 0, 0, 0, 0, 0)
		}))},
		{"bad checksum", edit(func(b []byte) []byte { b[len(b)-1]++; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode error = %v, want ErrCorrupt", err)
			}
		})
	}
	for _, name := range []string{"wrong magic", "wrong version", "unknown header flag"} {
		for _, tt := range tests {
			if tt.name == name {
				if _, _, err := Peek(tt.b); !errors.Is(err, ErrCorrupt) {
					t.Errorf("Peek of %s: error %v, want ErrCorrupt", name, err)
				}
			}
		}
	}
}

// hostileInputs are short, correctly checksummed encodings whose counts and
// lengths claim far more data than they hold.
func hostileInputs() map[string][]byte {
	huge := binary.AppendUvarint(nil, 1<<62)
	body := func(parts ...[]byte) []byte {
		b := bytes.Join(parts, nil)
		return append(b, make([]byte, trailerLen)...)
	}
	oneCol := appendColumnsOrPanic(sampleColumns(1))
	return map[string][]byte{
		"token count":   frame(0, append(huge, make([]byte, 16)...), nil),
		"column count":  frame(0, emptyHeader(), body(huge)),
		"row count":     frame(0, emptyHeader(), body(oneCol, huge)),
		"rows, no cols": frame(0, emptyHeader(), body([]byte{0}, huge)),
		"string length": frame(0, emptyHeader(), body(oneCol, []byte{1, tagString}, huge)),
		"bytes length":  frame(0, emptyHeader(), body(oneCol, []byte{1, tagBytes}, huge)),
		"heap lengths": frame(0, emptyHeader(), append([]byte{0, 0},
			0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f)),
		"compressed length": frame(flagDeflate, emptyHeader(), append(binary.AppendUvarint(nil, 200<<20), 1, 2, 3)),
		"compressed above cap": frame(flagDeflate, emptyHeader(),
			append(binary.AppendUvarint(nil, maxBodyLen+1), make([]byte, 1<<20)...)),
	}
}

func appendColumnsOrPanic(cols []Column) []byte {
	b, err := appendColumns(nil, cols, new(heapSizes))
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeHostileCounts(t *testing.T) {
	for name, b := range hostileInputs() {
		t.Run(name, func(t *testing.T) {
			var err error
			allocated := bytesAllocated(func() { _, err = Decode(b) })
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode error = %v, want ErrCorrupt", err)
			}
			if limit := uint64(64*len(b) + 64<<10); allocated > limit {
				t.Errorf("Decode of %d bytes allocated %d bytes, want at most %d", len(b), allocated, limit)
			}
		})
	}
}

// bytesAllocated returns how many bytes f allocated.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// deflate compresses b with compress/flate.
func deflate(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecompressionBomb(t *testing.T) {
	zeros := deflate(t, make([]byte, 64<<20)) // about 64 KiB expanding to 64 MiB
	tests := []struct {
		name     string
		declared uint64
		stream   []byte
	}{
		{"stream longer than declared", 1 << 20, zeros},
		{"declared beyond the ratio bound", uint64(len(zeros))*maxDeflateRatio + 1, zeros},
		{"declared beyond the cap", maxBodyLen + 1, zeros},
		{"stream shorter than declared", 65 << 20, zeros},
		{"not deflate", 100, []byte{0xff, 0xff, 0xff, 0xff}},
		{"bytes after the stream", 64 << 20, append(append([]byte(nil), zeros...), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := frame(flagDeflate, emptyHeader(), append(binary.AppendUvarint(nil, tt.declared), tt.stream...))
			var err error
			allocated := bytesAllocated(func() { _, err = Decode(b) })
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode error = %v, want ErrCorrupt", err)
			}
			if allocated > 66<<20 {
				t.Errorf("Decode allocated %d bytes, want at most the declared size", allocated)
			}
		})
	}
}
