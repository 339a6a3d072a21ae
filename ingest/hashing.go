package ingest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// HashingReader passes a file's content through while computing its SHA-256, so that the
// content hash comes from the same pass as the parse instead of a second read.
//
// A format reader may stop before the end of the file (a JSON array followed by
// whitespace, a trailing footer); Finish reads what is left so the hash always covers the
// whole content.
type HashingReader struct {
	r   io.ReadCloser
	h   hash.Hash
	n   int64
	eof bool
}

// NewHashingReader wraps r.
func NewHashingReader(r io.ReadCloser) *HashingReader {
	return &HashingReader{r: r, h: sha256.New()}
}

// Read reads from the wrapped reader and adds what it returns to the hash.
func (h *HashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.h.Write(p[:n])
		h.n += int64(n)
	}
	if errors.Is(err, io.EOF) {
		h.eof = true
	}
	return n, err
}

// Close closes the wrapped reader.
func (h *HashingReader) Close() error { return h.r.Close() }

// N is the number of bytes read so far.
func (h *HashingReader) N() int64 { return h.n }

// AtEOF reports whether the wrapped reader has returned io.EOF, that is, whether Sum is
// the hash of the whole content.
func (h *HashingReader) AtEOF() bool { return h.eof }

// Sum returns the SHA-256 of everything read so far: the content hash once Read has
// returned io.EOF (see AtEOF and Finish).
func (h *HashingReader) Sum() [32]byte {
	var sum [32]byte
	h.h.Sum(sum[:0])
	return sum
}

// Finish reads the rest of the content, if any, and returns the hash of all of it. A read
// error is returned rather than the hash of a partial file.
func (h *HashingReader) Finish() ([32]byte, error) {
	if !h.eof {
		if _, err := io.Copy(io.Discard, h); err != nil {
			return [32]byte{}, fmt.Errorf("reading to the end for the content hash: %w", err)
		}
		// io.Copy swallows io.EOF; reaching here without an error means it was seen.
		h.eof = true
	}
	return h.Sum(), nil
}
