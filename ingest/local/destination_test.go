package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/desttest"
	"github.com/dmfpipe/dmfpipe/ingest/local"
	"github.com/dmfpipe/dmfpipe/ingest/sourcetest"
)

func TestDestinationConformance(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) (ingest.Destination, sourcetest.Helper) {
		root := t.TempDir()
		d, err := local.New(root)
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, d.Close()) })
		return d, sourcetest.Dir(t, root)
	})
}

// While a file is written, only its hidden temporary name is in the folder; the commit
// leaves only the file.
func TestDestinationTemporaryName(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d, err := local.New(root)
	require.NoError(t, err)
	defer d.Close()
	p, err := d.Create(context.Background(), "out/a.csv")
	require.NoError(t, err)
	_, err = p.Write([]byte(strings.Repeat("x", 1<<20)))
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join(root, "out"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.True(t, strings.HasPrefix(entries[0].Name(), ".a.csv.") && strings.HasSuffix(entries[0].Name(), ingest.TempSuffix), entries[0].Name())
	require.NoError(t, p.Commit(context.Background()))
	entries, err = os.ReadDir(filepath.Join(root, "out"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "a.csv", entries[0].Name())
}
