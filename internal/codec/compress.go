package codec

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

const (
	// compressThreshold is the body size above which Encode tries DEFLATE.
	compressThreshold = 8 << 10
	// maxBodyLen caps the decoded size of a compressed body.
	maxBodyLen = 256 << 20
	// maxDeflateRatio bounds how far DEFLATE can expand its input (258 bytes
	// from a 2-bit match code), so the declared size of a compressed body is
	// checked against its compressed size before anything is allocated.
	maxDeflateRatio = 1032
	// maxPooledBuffer keeps one huge entry from pinning its buffer in the pool.
	maxPooledBuffer = 4 << 20
)

var (
	deflaters = sync.Pool{New: func() any {
		w, err := flate.NewWriter(nil, flate.BestSpeed)
		if err != nil {
			panic(err) // only for an invalid level
		}
		return w
	}}
	inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
	buffers   = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// compressBody replaces the body dst[bodyStart:] with its decoded length and its
// DEFLATE compression, and sets the header flag at dst[start+3], unless that
// would not make it smaller.
func compressBody(dst []byte, start, bodyStart int) []byte {
	raw := dst[bodyStart:]
	if len(raw) > maxBodyLen {
		return dst
	}
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buffers.Put(buf)
		}
	}()
	w := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(w)
	w.Reset(buf)
	// Writing to a bytes.Buffer cannot fail.
	_, _ = w.Write(raw)
	_ = w.Close()
	var lenBuf [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lenBuf[:], uint64(len(raw)))
	if n+buf.Len() >= len(raw) {
		return dst
	}
	dst = append(dst[:bodyStart], lenBuf[:n]...)
	dst = append(dst, buf.Bytes()...)
	dst[start+prefixLen-1] |= flagDeflate
	return dst
}

// openBody returns the uncompressed body of an encoding whose header flags are
// flags and whose body bytes are b.
func openBody(flags byte, b []byte) ([]byte, error) {
	if flags&flagDeflate == 0 {
		return b, nil
	}
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, fmt.Errorf("%w: bad compressed body length", ErrCorrupt)
	}
	compressed := b[k:]
	if n > maxBodyLen || n > uint64(len(compressed))*maxDeflateRatio {
		return nil, fmt.Errorf("%w: compressed body of %d bytes claims %d", ErrCorrupt, len(compressed), n)
	}
	return inflate(compressed, int(n))
}

// inflate decompresses b, which must hold exactly one DEFLATE stream of exactly n bytes.
func inflate(b []byte, n int) ([]byte, error) {
	src := bytes.NewReader(b)
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("%w: compressed body: %v", ErrCorrupt, err)
	}
	var extra [1]byte
	if m, err := r.Read(extra[:]); m != 0 || err != io.EOF {
		return nil, fmt.Errorf("%w: compressed body longer than its declared %d bytes", ErrCorrupt, n)
	}
	if src.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the compressed body", ErrCorrupt, src.Len())
	}
	return out, nil
}
