// Package tempfile names dmfpipe's temporary files after the process that writes them, so
// that those a killed process left behind (a SIGKILL leaves it no way out to remove them)
// are removed by the next process that starts.
//
// Processes are told apart by their ids, so the processes that share a temp folder must
// share a process id namespace: do not give containers one TMPDIR volume.
package tempfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// prefix starts every name Create makes; the process id follows it.
const prefix = "dmfpipe-"

// Create creates a new temporary file in dir (os.TempDir() when empty), opened for
// reading and writing, named dmfpipe-<pid>-<pattern> with pattern's last "*" replaced by
// a random string, as os.CreateTemp does.
func Create(dir, pattern string) (*os.File, error) {
	return os.CreateTemp(dir, prefix+strconv.Itoa(os.Getpid())+"-"+pattern)
}

// RemoveStale removes the files Create made in dir (os.TempDir() when empty) for
// processes that no longer run, and returns their names.
func RemoveStale(dir string) []string {
	if dir == "" {
		dir = os.TempDir()
	}
	names, _ := filepath.Glob(filepath.Join(dir, prefix+"*-*"))
	var removed []string
	for _, name := range names {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(name), prefix), "-", 2)[0])
		if err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		if st, err := os.Lstat(name); err != nil || !st.Mode().IsRegular() {
			continue
		}
		if os.Remove(name) == nil {
			removed = append(removed, name)
		}
	}
	return removed
}

// alive reports whether a process with pid runs (signal 0 probes it).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
