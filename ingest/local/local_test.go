package local_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/local"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
	"github.com/dmfpipe/dmfpipe/ingest/sourcetest"
)

func newSource(t *testing.T, root string) ingest.Source {
	src, err := local.New(root)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, src.Close()) })
	return src
}

func TestConformance(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, func(t *testing.T) (ingest.Source, sourcetest.Helper) {
		root := t.TempDir()
		return newSource(t, root), sourcetest.Dir(t, root)
	})
}

func TestOpenSourceFromConfig(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.csv"), []byte("x"), 0o644))
	src, err := ingest.OpenSource(context.Background(), &config.Connection{Name: "dropbox", Type: "local", Root: root})
	require.NoError(t, err)
	defer src.Close()
	files, err := src.List(context.Background(), "/", pattern.MustParse("*.csv"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Equal(t, "a.csv", files[0].Name)

	_, err = ingest.OpenSource(context.Background(), &config.Connection{Name: "gone", Type: "local", Root: filepath.Join(root, "missing")})
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.ErrorContains(t, err, "connection gone")
}

// A symlink inside the folder that points outside it is neither listed nor opened.
func TestSymlinksCannotLeaveTheRoot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret.csv"), []byte("secret"), 0o644))
	root := t.TempDir()
	src := newSource(t, root)
	sourcetest.Dir(t, root).Put("in/inside.csv", strings.NewReader("inside"))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(root, "in", "escape.csv")))
	require.NoError(t, os.Symlink("inside.csv", filepath.Join(root, "in", "alias.csv")))

	files, err := src.List(ctx, "in", pattern.MustParse("*.csv"))
	require.NoError(t, err)
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
	}
	assert.Equal(t, []string{"in/alias.csv", "in/inside.csv"}, got, "a link inside the root is followed, one leaving it is not")
	_, err = src.Open(ctx, "in/escape.csv")
	assert.Error(t, err)
}
