// Package desttest is the conformance suite every ingest.Destination backend passes: a
// file appears under its name only when committed, complete (large files too, streamed
// in many writes), never replaces an existing file, leaves nothing under its name when
// aborted or abandoned mid-write (a crash), never mixes the bytes of concurrent writers
// of one name, creates its folders, and takes names with spaces and non-ASCII characters.
//
// A backend's test calls Run with a function that makes a fresh, empty destination for
// one subtest, together with a sourcetest.Helper that reads the same storage without
// going through the Destination.
package desttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/sourcetest"
)

// NewFunc makes an empty destination and its Helper for one (sub)test, registering their
// cleanup with t.
type NewFunc func(t *testing.T) (ingest.Destination, sourcetest.Helper)

// LargeFileSize is the size of the file the streaming test writes: several blocks of a
// blob, many buffers of a file.
const LargeFileSize = 9<<20 + 12345

// Run runs the conformance suite as parallel subtests of t.
func Run(t *testing.T, newDest NewFunc) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewFunc)
	}{
		{"CommitPublishes", testCommitPublishes},
		{"LargeFileStreams", testLarge},
		{"NeverReplaces", testNeverReplaces},
		{"Abort", testAbort},
		{"AbandonedMidWrite", testAbandoned},
		{"ConcurrentWritersOfOneName", testConcurrent},
		{"UnusualNames", testUnusualNames},
		{"EmptyFile", testEmpty},
		{"RejectsBadNames", testBadNames},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newDest)
		})
	}
}

// content is n deterministic pseudo-random bytes.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// write writes data to a new file name in writes of at most chunk bytes, uncommitted.
func write(t *testing.T, d ingest.Destination, name string, data []byte, chunk int) ingest.PendingFile {
	t.Helper()
	p, err := d.Create(context.Background(), name)
	require.NoError(t, err, "Create(%q)", name)
	for len(data) > 0 {
		n := min(chunk, len(data))
		m, err := p.Write(data[:n])
		require.NoError(t, err)
		require.Equal(t, n, m)
		data = data[n:]
	}
	return p
}

func assertAbsent(t *testing.T, d ingest.Destination, h sourcetest.Helper, name, msg string) {
	t.Helper()
	_, err := d.Stat(context.Background(), name)
	assert.ErrorIs(t, err, ingest.ErrNotExist, "Stat(%q): %s", name, msg)
	_, ok := h.Get(name)
	assert.False(t, ok, "%q is in the storage: %s", name, msg)
}

func assertContent(t *testing.T, d ingest.Destination, h sourcetest.Helper, name string, want []byte) {
	t.Helper()
	got, ok := h.Get(name)
	require.True(t, ok, "%q is not in the storage", name)
	assert.Equal(t, sha256.Sum256(want), sha256.Sum256(got), "%q holds what was written (%d bytes, want %d)", name, len(got), len(want))
	fi, err := d.Stat(context.Background(), name)
	require.NoError(t, err)
	assert.EqualValues(t, len(want), fi.Size)
	rc, err := d.Open(context.Background(), name)
	require.NoError(t, err)
	defer rc.Close()
	read, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, read), "Open(%q) reads what was written", name)
}

func testCommitPublishes(t *testing.T, newDest NewFunc) {
	d, h := newDest(t)
	data := []byte("Account,Name\r\nC001,Contoso\r\n")
	p := write(t, d, "out/2026-12-01/customers.csv", data, 7)
	assertAbsent(t, d, h, "out/2026-12-01/customers.csv", "nothing under the name before the commit")
	require.NoError(t, p.Commit(context.Background()))
	assertContent(t, d, h, "out/2026-12-01/customers.csv", data)
	assert.NoError(t, p.Abort(), "Abort after Commit does nothing")
	assertContent(t, d, h, "out/2026-12-01/customers.csv", data)
	_, err := p.Write([]byte("more"))
	assert.Error(t, err, "a committed file takes no more bytes")
	assert.Error(t, p.Commit(context.Background()), "a file is committed once")
}

func testLarge(t *testing.T, newDest NewFunc) {
	d, h := newDest(t)
	data := content(1, LargeFileSize)
	p := write(t, d, "big/export.ndjson", data, 64<<10+3)
	assertAbsent(t, d, h, "big/export.ndjson", "a large file is not visible while it is written")
	require.NoError(t, p.Commit(context.Background()))
	assertContent(t, d, h, "big/export.ndjson", data)
}

func testNeverReplaces(t *testing.T, newDest NewFunc) {
	d, h := newDest(t)
	h.Put("out/orders.csv", strings.NewReader("old content"))
	p := write(t, d, "out/orders.csv", []byte("new content that must not land"), 1<<20)
	err := p.Commit(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, ingest.ErrExist)
	got, ok := h.Get("out/orders.csv")
	require.True(t, ok)
	assert.Equal(t, "old content", string(got), "the existing file is untouched")
}

func testAbort(t *testing.T, newDest NewFunc) {
	d, h := newDest(t)
	p := write(t, d, "out/aborted.csv", content(2, 1<<20), 100_000)
	require.NoError(t, p.Abort())
	assertAbsent(t, d, h, "out/aborted.csv", "an aborted file does not appear")
	require.NoError(t, p.Abort(), "Abort twice")
	assert.Error(t, p.Commit(context.Background()), "an aborted file cannot be committed")
	assertAbsent(t, d, h, "out/aborted.csv", "an aborted file does not appear")
}

// A writer abandoned mid-write (its process died) leaves nothing under the name; the
// next writer of the name commits its own bytes.
func testAbandoned(t *testing.T, newDest NewFunc) {
	d, h := newDest(t)
	_ = write(t, d, "out/crashed.csv", content(3, 5<<20), 1<<20)
	assertAbsent(t, d, h, "out/crashed.csv", "an abandoned file does not appear")
	again := content(4, 3<<20)
	p := write(t, d, "out/crashed.csv", again, 1<<20)
	require.NoError(t, p.Commit(context.Background()))
	assertContent(t, d, h, "out/crashed.csv", again)
}

func testConcurrent(t *testing.T, newDest NewFunc) {
	d, h := newDest(t)
	const writers = 4
	datas := make([][]byte, writers)
	errs := make([]error, writers)
	pending := make([]ingest.PendingFile, writers)
	for i := range writers {
		datas[i] = content(uint64(10+i), 2<<20+i)
		pending[i] = write(t, d, "race/same.csv", datas[i][:1<<20], 1<<16)
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if _, err := pending[i].Write(datas[i][1<<20:]); err != nil {
				errs[i] = err
				return
			}
			errs[i] = pending[i].Commit(context.Background())
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "two writers of one name both committed")
			winner = i
			continue
		}
		assert.ErrorIs(t, err, ingest.ErrExist, "writer %d", i)
	}
	require.NotEqual(t, -1, winner, "one writer commits: %v", errs)
	assertContent(t, d, h, "race/same.csv", datas[winner])
}

func testUnusualNames(t *testing.T, newDest NewFunc) {
	d, h := newDest(t)
	for i, name := range []string{"with space/Customers V3 part 1.csv", "ünïcödé/Kunden_Ærø_日本.json", "/leading/slash.csv", "top.csv"} {
		data := fmt.Appendf(nil, "file %d: %s", i, name)
		p := write(t, d, name, data, 5)
		require.NoError(t, p.Commit(context.Background()), name)
		clean, err := ingest.CleanName(name)
		require.NoError(t, err)
		assertContent(t, d, h, clean, data)
	}
}

func testEmpty(t *testing.T, newDest NewFunc) {
	d, h := newDest(t)
	p, err := d.Create(context.Background(), "out/empty.csv")
	require.NoError(t, err)
	require.NoError(t, p.Commit(context.Background()))
	assertContent(t, d, h, "out/empty.csv", nil)
}

func testBadNames(t *testing.T, newDest NewFunc) {
	d, _ := newDest(t)
	for _, name := range []string{"../escape.csv", "out/../../x.csv", "", "/", "a\x00b"} {
		_, err := d.Create(context.Background(), name)
		assert.True(t, errors.Is(err, ingest.ErrInvalidPath), "Create(%q): %v", name, err)
	}
}
