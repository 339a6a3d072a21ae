// Package sourcetest is the conformance suite every ingest.Source backend passes: listing
// with patterns and sub-folders, streaming reads of large files, moves to archive and
// error folders (created on demand, never overwriting), names with spaces and non-ASCII
// characters, files that vanish between List and Open, and, for backends with network
// connections, a connection that drops in the middle of a read.
//
// A backend's test calls Run with a function that makes a fresh, empty source for one
// subtest, together with a Helper that writes to and reads from the same storage without
// going through the Source.
package sourcetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

// Helper reaches a backend's storage directly, bypassing the Source under test. Its
// methods fail the test that made it on error.
type Helper interface {
	// Put writes a file (a name relative to the source root), creating its folders and
	// replacing any file of that name.
	Put(name string, content io.Reader)
	// Remove deletes a file.
	Remove(name string)
	// Get returns a file's content, and false when there is no such file.
	Get(name string) ([]byte, bool)
}

// Breaker is implemented by the Helper of a backend with network connections.
type Breaker interface {
	// Break drops every connection the source under test has open, as a network failure
	// would; connections made afterwards work.
	Break()
}

// NewFunc makes an empty source and its Helper for one (sub)test, registering their
// cleanup with t.
type NewFunc func(t *testing.T) (ingest.Source, Helper)

// LargeFileSize is the size of the file the streaming test reads.
const LargeFileSize = 64 << 20

// Run runs the conformance suite as parallel subtests of t.
func Run(t *testing.T, newSource NewFunc) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewFunc)
	}{
		{"List", testList},
		{"ListPatterns", testListPatterns},
		{"ListRejectsBadPaths", testListRejectsBadPaths},
		{"Stat", testStat},
		{"OpenSmall", testOpenSmall},
		{"OpenLargeStreams", testOpenLarge},
		{"Move", testMove},
		{"MoveConcurrentSameName", testMoveConcurrent},
		{"UnusualNames", testUnusualNames},
		{"Vanished", testVanished},
		{"ConnectionDrop", testConnectionDrop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newSource)
		})
	}
}

func put(h Helper, name, content string) { h.Put(name, strings.NewReader(content)) }

func names(files []ingest.FileInfo) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

func testList(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	files := map[string]string{
		"top.csv":              "top",
		"in/a.csv":             "a,b\n1,2\n",
		"in/b.CSV":             "bb",
		"in/c.txt":             "ccc",
		"in/orders_2024.csv":   "2024",
		"in/orders_2025.csv":   "2025!",
		"in/sub/d.csv":         "dddd",
		"in/sub/deeper/e.csv":  "eeeee",
		"in/other/f.csv":       "ffffff",
		"inbox/not-in-in.csv":  "x",
		"in-other/nor-in.csv":  "y",
		"in/sub/nested.csv.gz": "z",
	}
	for name, content := range files {
		put(h, name, content)
	}
	for _, tc := range []struct {
		dir, pattern string
		want         []string
	}{
		{"in", "*.csv", []string{"in/a.csv", "in/orders_2024.csv", "in/orders_2025.csv"}},
		{"in", "", []string{"in/a.csv", "in/b.CSV", "in/c.txt", "in/orders_2024.csv", "in/orders_2025.csv"}},
		{"in", "orders_*.csv", []string{"in/orders_2024.csv", "in/orders_2025.csv"}},
		{"in", "orders_202?.csv", []string{"in/orders_2024.csv", "in/orders_2025.csv"}},
		{"in", "[ab].*", []string{"in/a.csv", "in/b.CSV"}},
		{"in", "*/*.csv", []string{"in/other/f.csv", "in/sub/d.csv"}},
		{"in", "sub/*", []string{"in/sub/d.csv", "in/sub/nested.csv.gz"}},
		{"in", "*/*/*.csv", []string{"in/sub/deeper/e.csv"}},
		{"in/sub", "*", []string{"in/sub/d.csv", "in/sub/nested.csv.gz"}},
		{"/in/sub/", "*.csv", []string{"in/sub/d.csv"}},
		{"", "*.csv", []string{"top.csv"}},
		{"/", "*", []string{"top.csv"}},
		{"in", "a.csv", []string{"in/a.csv"}},
		{"in", "*.xlsx", nil},
	} {
		got, err := src.List(ctx, tc.dir, pattern.MustParse(tc.pattern))
		require.NoError(t, err, "List(%q, %q)", tc.dir, tc.pattern)
		assert.Equal(t, tc.want, names(got), "List(%q, %q)", tc.dir, tc.pattern)
		for _, f := range got {
			assert.EqualValues(t, len(files[f.Name]), f.Size, "size of %s", f.Name)
			assert.WithinDuration(t, time.Now(), f.ModTime, 24*time.Hour, "modification time of %s", f.Name)
			st, err := src.Stat(ctx, f.Name)
			require.NoError(t, err)
			assert.True(t, f.SameVersion(st), "List and Stat agree on %s: %+v vs %+v", f.Name, f, st)
			assert.Equal(t, f.Name, st.Name)
		}
	}

	got, err := src.List(ctx, "missing/folder", pattern.MustParse("*"))
	if err != nil {
		assert.ErrorIs(t, err, ingest.ErrNotExist, "a missing folder lists nothing or is ErrNotExist")
	} else {
		assert.Empty(t, got)
	}
}

// testListPatterns lists with captures, classes, escapes and several folder levels; the
// literal start of a pattern is what a backend may narrow its listing by, so escaped
// wildcards there must be taken literally.
func testListPatterns(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	for _, name := range []string{
		"in/customers_USMF_20261125.csv",
		"in/customers_DEMF_20261126.csv",
		"in/customers__20261127.csv",
		"in/customers_USMF.csv",
		"in/orders_2024.csv",
		"in/orders_2025.csv",
		"in/orders_202x.csv",
		"in/a*b 1.csv",
		"in/ab 1.csv",
		"in/[draft] x.csv",
		"in/draft x.csv",
		"in/{company}.csv",
		"in/byco/USMF/orders_2024-05.csv",
		"in/byco/DEMF/orders_2024-06.csv",
		"in/byco/DEMF/sub/orders_2024-07.csv",
		"in/byco/DEMF/notes.txt",
		"in/byco/readme.csv",
		"in/2024/05/x.csv",
		"in/2024/06/y.csv",
		"in/2023/05/z.csv",
		"in/Bestellungen_Müller_1.csv",
		"in/Bestellungen_Mueller_22.csv",
		"in/日本語_東京.csv",
	} {
		put(h, name, name)
	}
	for _, tc := range []struct {
		dir, pattern string
		want         map[string]map[string]string // listed name → its captures
	}{
		{"in", "customers_{company}_*.csv", map[string]map[string]string{
			"in/customers_DEMF_20261126.csv": {"company": "DEMF"},
			"in/customers_USMF_20261125.csv": {"company": "USMF"},
		}},
		{"in", "orders_202[45].csv", map[string]map[string]string{"in/orders_2024.csv": nil, "in/orders_2025.csv": nil}},
		{"in", "orders_202[^0-9].csv", map[string]map[string]string{"in/orders_202x.csv": nil}},
		{"in", `a\*b *`, map[string]map[string]string{"in/a*b 1.csv": nil}},
		{"in", `\[draft] *`, map[string]map[string]string{"in/[draft] x.csv": nil}},
		{"in", `\{company}.csv`, map[string]map[string]string{"in/{company}.csv": nil}},
		{"in/byco", "{company}/orders_{month}.csv", map[string]map[string]string{
			"in/byco/DEMF/orders_2024-06.csv": {"company": "DEMF", "month": "2024-06"},
			"in/byco/USMF/orders_2024-05.csv": {"company": "USMF", "month": "2024-05"},
		}},
		{"in", "byco/*/*.csv", map[string]map[string]string{"in/byco/DEMF/orders_2024-06.csv": nil, "in/byco/USMF/orders_2024-05.csv": nil}},
		{"in", "20[0-9][0-9]/0[5]/*.csv", map[string]map[string]string{"in/2023/05/z.csv": nil, "in/2024/05/x.csv": nil}},
		{"in", "2024/*/*.csv", map[string]map[string]string{"in/2024/05/x.csv": nil, "in/2024/06/y.csv": nil}},
		{"in", "Bestellungen_M?ller_*", map[string]map[string]string{"in/Bestellungen_Müller_1.csv": nil}},
		{"in", "Bestellungen_M{rest}_?.csv", map[string]map[string]string{"in/Bestellungen_Müller_1.csv": {"rest": "üller"}}},
		{"in", "日本語_{city}.csv", map[string]map[string]string{"in/日本語_東京.csv": {"city": "東京"}}},
		{"in", "customers_{company}_*.xlsx", map[string]map[string]string{}},
	} {
		pat := pattern.MustParse(tc.pattern)
		got, err := src.List(ctx, tc.dir, pat)
		require.NoError(t, err, "List(%q, %q)", tc.dir, tc.pattern)
		listed := map[string]map[string]string{}
		for _, f := range got {
			rel := strings.TrimPrefix(f.Name, tc.dir+"/")
			caps, ok := pat.Match(rel)
			assert.True(t, ok, "List(%q, %q) returned %s, which does not match", tc.dir, tc.pattern, f.Name)
			listed[f.Name] = caps
			assert.EqualValues(t, len(f.Name), f.Size, "size of %s", f.Name)
		}
		assert.Equal(t, tc.want, listed, "List(%q, %q)", tc.dir, tc.pattern)
		assert.True(t, slices.IsSortedFunc(got, func(a, b ingest.FileInfo) int { return strings.Compare(a.Name, b.Name) }), "sorted by name")
	}
}

func testListRejectsBadPaths(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	put(h, "in/a.csv", "a")
	// Bad patterns ("**", "../x", "/abs") never reach a Source: pattern.Parse refuses them.
	for _, dir := range []string{"../in", "in/../..", "..", "in\x00"} {
		_, err := src.List(ctx, dir, pattern.MustParse("*"))
		assert.ErrorIs(t, err, ingest.ErrInvalidPath, "List(%q)", dir)
	}
	_, err := src.Stat(ctx, "../in/a.csv")
	assert.ErrorIs(t, err, ingest.ErrInvalidPath)
	_, err = src.Open(ctx, "in/../../a.csv")
	assert.ErrorIs(t, err, ingest.ErrInvalidPath)
	_, err = src.Move(ctx, "in/a.csv", "../archive")
	assert.ErrorIs(t, err, ingest.ErrInvalidPath)
	_, ok := h.Get("in/a.csv")
	assert.True(t, ok, "a refused move leaves the file")
}

func testStat(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	put(h, "in/a.csv", "12345")
	f, err := src.Stat(ctx, "/in/a.csv")
	require.NoError(t, err)
	assert.Equal(t, "in/a.csv", f.Name)
	assert.EqualValues(t, 5, f.Size)

	_, err = src.Stat(ctx, "in/missing.csv")
	assert.ErrorIs(t, err, ingest.ErrNotExist)
	_, err = src.Stat(ctx, "in")
	assert.ErrorIs(t, err, ingest.ErrNotExist, "a folder is not a file")

	// A rewrite with other content is another version.
	put(h, "in/a.csv", "123456")
	g, err := src.Stat(ctx, "in/a.csv")
	require.NoError(t, err)
	assert.False(t, f.SameVersion(g), "rewritten file keeps its version: %+v", g)
}

func testOpenSmall(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	put(h, "in/a.csv", "id;name\r\n1;Zoë\r\n")
	put(h, "in/empty.csv", "")
	for name, want := range map[string]string{"in/a.csv": "id;name\r\n1;Zoë\r\n", "in/empty.csv": ""} {
		r, err := src.Open(ctx, name)
		require.NoError(t, err)
		got, err := io.ReadAll(r)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		assert.Equal(t, want, string(got))
	}
	_, err := src.Open(ctx, "in/missing.csv")
	assert.ErrorIs(t, err, ingest.ErrNotExist)
}

// content is a deterministic, incompressible stream of n bytes.
func content(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), n)
}

func sha(r io.Reader) [32]byte {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		panic(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func testOpenLarge(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	h.Put("big/large.bin", content(1, LargeFileSize))
	want := sha(content(1, LargeFileSize))

	f, err := src.Stat(ctx, "big/large.bin")
	require.NoError(t, err)
	require.EqualValues(t, LargeFileSize, f.Size)

	r, err := src.Open(ctx, "big/large.bin")
	require.NoError(t, err)
	defer r.Close()
	hr := ingest.NewHashingReader(r)
	buf := make([]byte, 64<<10)
	// Half way through, the file must not be held in memory.
	_, err = io.CopyBuffer(io.Discard, io.LimitReader(hr, LargeFileSize/2), buf)
	require.NoError(t, err)
	assert.Less(t, heapInUse(), uint64(LargeFileSize/2), "heap in use half way through a %d MiB read", LargeFileSize>>20)
	_, err = io.CopyBuffer(io.Discard, hr, buf)
	require.NoError(t, err)
	assert.True(t, hr.AtEOF())
	assert.EqualValues(t, LargeFileSize, hr.N())
	assert.Equal(t, want, hr.Sum(), "content hash")
}

func testMove(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)

	put(h, "in/a.csv", "first")
	moved, err := src.Move(ctx, "in/a.csv", "archive/2024/05")
	require.NoError(t, err)
	assert.Equal(t, "archive/2024/05/a.csv", moved, "the folder is created")
	got, ok := h.Get(moved)
	require.True(t, ok)
	assert.Equal(t, "first", string(got))
	_, err = src.Stat(ctx, "in/a.csv")
	assert.ErrorIs(t, err, ingest.ErrNotExist, "the source is gone after a move")

	// Name collisions are numbered before the extension, never overwritten.
	for i, want := range []string{"archive/2024/05/a-1.csv", "archive/2024/05/a-2.csv"} {
		put(h, "in/a.csv", fmt.Sprintf("again %d", i))
		moved, err := src.Move(ctx, "/in/a.csv", "/archive/2024/05/")
		require.NoError(t, err)
		assert.Equal(t, want, moved)
		got, _ := h.Get(moved)
		assert.Equal(t, fmt.Sprintf("again %d", i), string(got))
	}
	got, _ = h.Get("archive/2024/05/a.csv")
	assert.Equal(t, "first", string(got), "the first archived file is untouched")
	listed, err := src.List(ctx, "archive/2024/05", pattern.MustParse("*"))
	require.NoError(t, err)
	assert.Equal(t, []string{"archive/2024/05/a-1.csv", "archive/2024/05/a-2.csv", "archive/2024/05/a.csv"}, names(listed))

	// A numbered name that is taken is skipped; names without an extension are numbered at the end.
	put(h, "errors/README", "old")
	put(h, "errors/README-1", "old too")
	put(h, "in/README", "new")
	moved, err = src.Move(ctx, "in/README", "errors")
	require.NoError(t, err)
	assert.Equal(t, "errors/README-2", moved)

	// A sibling folder, and back to the root.
	put(h, "in/sub/b.json", "{}")
	moved, err = src.Move(ctx, "in/sub/b.json", "in/failed")
	require.NoError(t, err)
	assert.Equal(t, "in/failed/b.json", moved)
	moved, err = src.Move(ctx, moved, "/")
	require.NoError(t, err)
	assert.Equal(t, "b.json", moved)

	// Into its own folder: nothing to do.
	put(h, "in/c.csv", "c")
	moved, err = src.Move(ctx, "in/c.csv", "in")
	require.NoError(t, err)
	assert.Equal(t, "in/c.csv", moved)
	got, _ = h.Get("in/c.csv")
	assert.Equal(t, "c", string(got))

	_, err = src.Move(ctx, "in/missing.csv", "archive")
	assert.ErrorIs(t, err, ingest.ErrNotExist)
}

func testMoveConcurrent(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	const n = 6
	for i := range n {
		put(h, fmt.Sprintf("in/%d/orders.csv", i), fmt.Sprintf("file %d", i))
	}
	moved := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { moved[i], errs[i] = src.Move(ctx, fmt.Sprintf("in/%d/orders.csv", i), "archive") })
	}
	wg.Wait()
	var contents []string
	for i := range n {
		require.NoError(t, errs[i])
		got, ok := h.Get(moved[i])
		require.True(t, ok, moved[i])
		contents = append(contents, string(got))
	}
	sort.Strings(contents)
	for i := range n {
		assert.Equal(t, fmt.Sprintf("file %d", i), contents[i], "every moved file kept under its own name")
	}
	listed, err := src.List(ctx, "archive", pattern.MustParse("orders*.csv"))
	require.NoError(t, err)
	assert.Len(t, listed, n)
}

func testUnusualNames(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	unusual := []string{
		"März Bestellung #1.csv",
		"100% pure + mixed (copy) & co.csv",
		"日本語 ファイル.csv",
		"Ünïcödé folder/é;ñ.csv",
	}
	for i, name := range unusual {
		put(h, "in/"+name, fmt.Sprintf("content %d", i))
	}
	listed, err := src.List(ctx, "in", pattern.MustParse("*.csv"))
	require.NoError(t, err)
	assert.Equal(t, []string{"in/100% pure + mixed (copy) & co.csv", "in/März Bestellung #1.csv", "in/日本語 ファイル.csv"}, names(listed))
	listed, err = src.List(ctx, "in", pattern.MustParse("M?rz *"))
	require.NoError(t, err)
	assert.Equal(t, []string{"in/März Bestellung #1.csv"}, names(listed), "? matches one character, not one byte")
	listed, err = src.List(ctx, "in/Ünïcödé folder", pattern.MustParse("*"))
	require.NoError(t, err)
	assert.Equal(t, []string{"in/Ünïcödé folder/é;ñ.csv"}, names(listed))

	for i, name := range unusual {
		r, err := src.Open(ctx, "in/"+name)
		require.NoError(t, err, name)
		got, err := io.ReadAll(r)
		require.NoError(t, err)
		r.Close()
		assert.Equal(t, fmt.Sprintf("content %d", i), string(got))

		moved, err := src.Move(ctx, "in/"+name, "archiv/Übernommen #2")
		require.NoError(t, err, name)
		base := name[strings.LastIndex(name, "/")+1:]
		assert.Equal(t, "archiv/Übernommen #2/"+base, moved)
		st, err := src.Stat(ctx, moved)
		require.NoError(t, err, moved)
		assert.EqualValues(t, len(got), st.Size)
	}
}

func testVanished(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	put(h, "in/gone.csv", "soon gone")
	listed, err := src.List(ctx, "in", pattern.MustParse("*.csv"))
	require.NoError(t, err)
	require.Equal(t, []string{"in/gone.csv"}, names(listed))
	h.Remove("in/gone.csv")

	_, err = src.Open(ctx, "in/gone.csv")
	assert.ErrorIs(t, err, ingest.ErrNotExist, "Open")
	_, err = src.Stat(ctx, "in/gone.csv")
	assert.ErrorIs(t, err, ingest.ErrNotExist, "Stat")
	_, err = src.Move(ctx, "in/gone.csv", "archive")
	assert.ErrorIs(t, err, ingest.ErrNotExist, "Move")
	listed, err = src.List(ctx, "archive", pattern.MustParse("*"))
	if err == nil {
		assert.Empty(t, listed, "a failed move leaves nothing behind")
	}
}

func testConnectionDrop(t *testing.T, newSource NewFunc) {
	ctx := context.Background()
	src, h := newSource(t)
	breaker, ok := h.(Breaker)
	if !ok {
		t.Skip("the backend has no connections to drop")
	}
	const size = 8 << 20
	h.Put("in/big.bin", content(2, size))
	want := sha(content(2, size))

	// A drop before any call: the next call connects again.
	breaker.Break()
	_, err := src.Stat(ctx, "in/big.bin")
	require.NoError(t, err, "a call after a drop reconnects")

	r, err := src.Open(ctx, "in/big.bin")
	require.NoError(t, err)
	defer r.Close()
	hr := ingest.NewHashingReader(r)
	_, err = io.CopyN(io.Discard, hr, 1<<20)
	require.NoError(t, err)
	breaker.Break()
	_, err = io.Copy(io.Discard, hr)
	if err != nil {
		t.Logf("read after the drop failed (allowed): %v", err)
	} else {
		assert.EqualValues(t, size, hr.N(), "a read that ends without error delivered the whole file")
		assert.Equal(t, want, hr.Sum(), "a read that resumed after the drop delivered the right bytes")
	}

	listed, err := src.List(ctx, "in", pattern.MustParse("*"))
	require.NoError(t, err, "a later call reconnects")
	assert.Equal(t, []string{"in/big.bin"}, names(listed))
	r2, err := src.Open(ctx, "in/big.bin")
	require.NoError(t, err)
	defer r2.Close()
	assert.Equal(t, want, sha(r2))
}

// Dir returns the Helper of a backend whose storage is the local directory root: a local
// folder, or an SFTP server running on this machine.
func Dir(t *testing.T, root string) Helper { return dirHelper{t: t, root: root} }

type dirHelper struct {
	t    *testing.T
	root string
}

func (d dirHelper) path(name string) string { return filepath.Join(d.root, filepath.FromSlash(name)) }

func (d dirHelper) Put(name string, content io.Reader) {
	p := d.path(name)
	require.NoError(d.t, os.MkdirAll(filepath.Dir(p), 0o755))
	// Write beside and rename, so a reader never sees a half-written file.
	tmp := filepath.Join(filepath.Dir(p), ".put-"+filepath.Base(p))
	out, err := os.Create(tmp)
	require.NoError(d.t, err)
	_, err = io.Copy(out, content)
	require.NoError(d.t, err)
	require.NoError(d.t, out.Close())
	require.NoError(d.t, os.Rename(tmp, p))
}

func (d dirHelper) Remove(name string) { require.NoError(d.t, os.Remove(d.path(name))) }

func (d dirHelper) Get(name string) ([]byte, bool) {
	data, err := os.ReadFile(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	require.NoError(d.t, err)
	return data, true
}
