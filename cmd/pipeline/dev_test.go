package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/devstack"
)

// `make dev` end to end: its own Postgres, the emulator, the example projects' imports and
// the export of the customers imported.
func TestDevRunsTheSampleImport(t *testing.T) {
	if _, err := devstack.FindPostgresBin(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	out, code := runCLI(t, "dev")
	require.Equal(t, 0, code, out)
	for _, want := range []string{
		"job 1: succeeded", "5 read, 5 staged, 0 invalid, 5 uploaded, 5 imported",
		"job 2: succeeded", "3 read, 3 staged, 0 invalid, 3 uploaded, 3 imported",
		"job 3: succeeded", "4 read, 4 staged, 0 invalid, 4 uploaded, 4 imported",
		"export job 4: succeeded", "5 rows in 1 files",
		"0 protocol violations",
	} {
		assert.Contains(t, out, want)
	}
	assert.Regexp(t, regexp.MustCompile(`Customers V3\s+5 rows in the emulator`), out)
	assert.Regexp(t, regexp.MustCompile(`Vendors V2\s+3 rows in the emulator`), out)
	assert.Regexp(t, regexp.MustCompile(`Released products V2\s+4 rows in the emulator`), out)
}
