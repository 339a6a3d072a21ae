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

// `make dev` end to end: its own Postgres, the emulator and the sample import.
func TestDevRunsTheSampleImport(t *testing.T) {
	if _, err := devstack.FindPostgresBin(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	out, code := runCLI(t, "dev")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, ": Succeeded, 1000 rows sent")
	assert.Regexp(t, regexp.MustCompile(`sample import\s+1000 rows now in the emulator's Customers V3 \(USMF\)`), out)
	assert.Contains(t, out, "0 protocol violations")
}
