package ingest_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"testing/iotest"

	"github.com/dmfpipe/dmfpipe/ingest"
)

func TestHashingReaderHashesWhatIsRead(t *testing.T) {
	t.Parallel()
	data := strings.Repeat("id;name\n1;Zoë\n", 10000)
	h := ingest.NewHashingReader(io.NopCloser(iotest.HalfReader(strings.NewReader(data))))
	got, err := io.ReadAll(h)
	require.NoError(t, err)
	assert.Equal(t, data, string(got))
	assert.True(t, h.AtEOF())
	assert.EqualValues(t, len(data), h.N())
	assert.Equal(t, sha256.Sum256([]byte(data)), h.Sum())
	sum, err := h.Finish()
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256([]byte(data)), sum)
}

// A parser that stops before the end still gets the hash of the whole file from Finish.
func TestHashingReaderFinishReadsTheRest(t *testing.T) {
	t.Parallel()
	data := []byte(`{"items": [1, 2]}` + strings.Repeat(" ", 100000))
	h := ingest.NewHashingReader(io.NopCloser(bytes.NewReader(data)))
	_, err := io.CopyN(io.Discard, h, 10)
	require.NoError(t, err)
	assert.False(t, h.AtEOF())
	assert.NotEqual(t, sha256.Sum256(data), h.Sum(), "Sum is of what was read so far")
	sum, err := h.Finish()
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(data), sum)
	assert.EqualValues(t, len(data), h.N())
}

func TestHashingReaderFinishReportsReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	h := ingest.NewHashingReader(io.NopCloser(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom))))
	_, err := h.Finish()
	assert.ErrorIs(t, err, boom)
	assert.False(t, h.AtEOF())
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestHashingReaderCloses(t *testing.T) {
	t.Parallel()
	c := &closeRecorder{Reader: strings.NewReader("x")}
	require.NoError(t, ingest.NewHashingReader(c).Close())
	assert.True(t, c.closed)
}

func BenchmarkHashingReader(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h := ingest.NewHashingReader(io.NopCloser(bytes.NewReader(data)))
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{h}, buf); err != nil {
			b.Fatal(err)
		}
		_ = h.Sum()
	}
}
