package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                 "",
		"/":                "",
		".":                "",
		"in":               "in",
		"/in/":             "in",
		"in//sub/./x.csv":  "in/sub/x.csv",
		"März #1/a b.csv":  "März #1/a b.csv",
		"in/..x/y..":       "in/..x/y..",
		`in\..\..\windows`: `in\..\..\windows`, // a backslash is an ordinary character
	} {
		got, err := ingest.CleanPath(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"..", "../x", "in/../../x", "in/..", "a\x00b"} {
		_, err := ingest.CleanPath(in)
		assert.ErrorIs(t, err, ingest.ErrInvalidPath, in)
	}
	_, err := ingest.CleanName("/")
	assert.ErrorIs(t, err, ingest.ErrInvalidPath)
}

func TestNumberedName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"orders.csv", 0, "orders.csv"},
		{"orders.csv", 1, "orders-1.csv"},
		{"orders.csv", 12, "orders-12.csv"},
		{"archive.tar.gz", 1, "archive.tar-1.gz"},
		{"README", 2, "README-2"},
		{".env", 1, ".env-1"},
		{"März Bestellung #1.csv", 1, "März Bestellung #1-1.csv"},
	} {
		assert.Equal(t, tc.want, ingest.NumberedName(tc.name, tc.n), "%s %d", tc.name, tc.n)
	}
}

func TestPlaceNumbered(t *testing.T) {
	t.Parallel()
	var tried []string
	raced := map[string]bool{"archive/a-2.csv": true}
	got, err := ingest.PlaceNumbered("in/a.csv", "archive", map[string]bool{"a.csv": true, "a-1.csv": true},
		func(target string) (bool, error) {
			tried = append(tried, target)
			return !raced[target], nil
		})
	require.NoError(t, err)
	assert.Equal(t, "archive/a-3.csv", got)
	assert.Equal(t, []string{"archive/a-2.csv", "archive/a-3.csv"}, tried, "known names are skipped, a lost race goes on")

	got, err = ingest.PlaceNumbered("in/a.csv", "in", nil, func(string) (bool, error) {
		t.Fatal("a file moved into its own folder is not placed")
		return false, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "in/a.csv", got)

	boom := errors.New("boom")
	_, err = ingest.PlaceNumbered("a.csv", "archive", nil, func(string) (bool, error) { return false, boom })
	assert.ErrorIs(t, err, boom)
}

// fakeTree is a ReadDirFunc over a map of folder → entries.
type fakeTree map[string][]ingest.DirEntry

func (f fakeTree) readDir(_ context.Context, dir string) ([]ingest.DirEntry, error) {
	entries, ok := f[dir]
	if !ok {
		return nil, fmt.Errorf("%q: %w", dir, fs.ErrNotExist)
	}
	return entries, nil
}

func TestGlobReadsOnlyMatchingFolders(t *testing.T) {
	t.Parallel()
	tree := fakeTree{
		"in": {{Name: "b.csv", Size: 2}, {Name: "a.csv", Size: 1}, {Name: "x.csv", Dir: true}, {Name: "2024", Dir: true}, {Name: "old", Dir: true}, {Name: "gone", Dir: true}},
		// "gone" is listed but vanishes before it is read.
		"in/2024":   {{Name: "c.csv"}, {Name: "deep", Dir: true}},
		"in/x.csv":  {{Name: "y.csv"}},
		"in/old":    {{Name: "d.csv"}},
		"in/2024/d": {{Name: "never.csv"}},
	}
	var read []string
	readDir := func(ctx context.Context, dir string) ([]ingest.DirEntry, error) {
		read = append(read, dir)
		return tree.readDir(ctx, dir)
	}
	files, err := ingest.Glob(context.Background(), "/in/", pattern.MustParse("*.csv"), readDir)
	require.NoError(t, err)
	assert.Equal(t, []string{"in/a.csv", "in/b.csv"}, names(files), "folders named like files are not files")
	assert.Equal(t, []string{"in"}, read, "a one-level pattern reads one folder")

	read = nil
	files, err = ingest.Glob(context.Background(), "in", pattern.MustParse("20*/*.csv"), readDir)
	require.NoError(t, err)
	assert.Equal(t, []string{"in/2024/c.csv"}, names(files))
	assert.Equal(t, []string{"in", "in/2024"}, read, "only matching sub-folders are read")

	read = nil
	files, err = ingest.Glob(context.Background(), "in", pattern.MustParse("20{yy}/[a-c].csv"), readDir)
	require.NoError(t, err)
	assert.Equal(t, []string{"in/2024/c.csv"}, names(files))
	assert.Equal(t, []string{"in", "in/2024"}, read, "a capture matches folder names too")

	files, err = ingest.Glob(context.Background(), "in", pattern.MustParse("*/*"), readDir)
	require.NoError(t, err, "a sub-folder that vanished is skipped")
	assert.Equal(t, []string{"in/2024/c.csv", "in/old/d.csv", "in/x.csv/y.csv"}, names(files))

	_, err = ingest.Glob(context.Background(), "missing", pattern.MustParse("*"), readDir)
	assert.ErrorIs(t, err, ingest.ErrNotExist)
	_, err = ingest.Glob(context.Background(), "..", pattern.MustParse("*"), readDir)
	assert.ErrorIs(t, err, ingest.ErrInvalidPath)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = ingest.Glob(ctx, "in", pattern.MustParse("*"), readDir)
	assert.ErrorIs(t, err, context.Canceled)
}

func names(files []ingest.FileInfo) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

func TestOpenSourceNeedsALinkedBackend(t *testing.T) {
	t.Parallel()
	_, err := ingest.OpenSource(context.Background(), &config.Connection{Name: "ftp-box", Type: "ftp"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection ftp-box")
	assert.Contains(t, err.Error(), "ingest/ftp")
}

func TestRegisterTwicePanics(t *testing.T) {
	t.Parallel()
	typ := "test-" + strings.ReplaceAll(t.Name(), "/", "-")
	open := func(context.Context, *config.Connection) (ingest.Source, error) { return nil, errors.New("unused") }
	ingest.Register(typ, open)
	assert.Panics(t, func() { ingest.Register(typ, open) })
	_, err := ingest.OpenSource(context.Background(), &config.Connection{Name: "x", Type: typ})
	assert.ErrorContains(t, err, "connection x: unused")
}
