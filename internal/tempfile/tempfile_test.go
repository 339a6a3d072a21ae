package tempfile_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/tempfile"
)

func TestRemoveStaleTakesOnlyTheFilesOfDeadProcesses(t *testing.T) {
	dir := t.TempDir()
	mine, err := tempfile.Create(dir, "package-*.zip")
	require.NoError(t, err)
	require.NoError(t, mine.Close())
	assert.Regexp(t, `^dmfpipe-`+strconv.Itoa(os.Getpid())+`-package-\d+\.zip$`, filepath.Base(mine.Name()))

	// A process that ran and ended: its pid is free.
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	left := filepath.Join(dir, "dmfpipe-"+strconv.Itoa(dead.Process.Pid)+"-package-1.zip")
	// A running process's file (this test's parent, the go command or a shell).
	running := filepath.Join(dir, "dmfpipe-"+strconv.Itoa(os.Getppid())+"-sheet-2.xml")
	// Names that are not Create's: no pid, or a folder.
	other := filepath.Join(dir, "dmfpipe-dev-3")
	folder := filepath.Join(dir, "dmfpipe-"+strconv.Itoa(dead.Process.Pid)+"-folder")
	for _, name := range []string{left, running, other} {
		require.NoError(t, os.WriteFile(name, []byte("x"), 0o600))
	}
	require.NoError(t, os.Mkdir(folder, 0o700))

	assert.Equal(t, []string{left}, tempfile.RemoveStale(dir))
	for _, name := range []string{mine.Name(), running, other, folder} {
		_, err := os.Stat(name)
		assert.NoError(t, err, "kept: %s", name)
	}
}
