package main

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A test binary records no VCS revision: the command says so and still prints the rest.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	out, code := runCLI(t, "version")
	require.Equal(t, exitOK, code, out)
	want := readVersion()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, "pipeline "+want.Version, lines[0])
	assert.Contains(t, out, "  module:    github.com/dmfpipe/dmfpipe\n")
	if want.Revision == "" {
		assert.Contains(t, out, "  revision:  unknown (not recorded in this build; pipeline version --help says when)\n")
	}
	assert.Equal(t, "  go:        "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH, lines[len(lines)-1])

	for _, flag := range []string{"--version", "-v"} {
		again, code := runCLI(t, flag)
		require.Equal(t, exitOK, code, again)
		assert.Equal(t, out, again, flag)
	}

	out, code = runCLI(t, "version", "--json")
	require.Equal(t, exitOK, code, out)
	var got versionInfo
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, want, got)
	assert.Equal(t, runtime.Version(), got.GoVersion)

	out, code = runCLI(t, "version", "extra")
	assert.Equal(t, exitUsage, code, out)
	assert.Equal(t, "pipeline: version takes no arguments, got 1\n", out)
}

func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	base := versionInfo{Version: "(devel)", GoVersion: "go0.0", Platform: "linux/amd64"}
	built := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/dmfpipe/dmfpipe", Version: "v1.4.0+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "98dad15c8a4b3e2f1d0c9b8a7f6e5d4c3b2a1f0e"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	withTime := base
	withTime.BuildTime = "2026-12-02T08:00:00Z"
	v := versionFrom(built, withTime)
	assert.Equal(t, versionInfo{
		Version: "v1.4.0+dirty", Module: "github.com/dmfpipe/dmfpipe",
		Revision: "98dad15c8a4b3e2f1d0c9b8a7f6e5d4c3b2a1f0e", CommitTime: "2026-12-01T10:00:00Z", Modified: true,
		BuildTime: "2026-12-02T08:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64",
	}, v)
	assert.Equal(t, `pipeline v1.4.0+dirty
  module:    github.com/dmfpipe/dmfpipe
  revision:  98dad15c8a4b3e2f1d0c9b8a7f6e5d4c3b2a1f0e (modified: built with uncommitted changes)
  committed: 2026-12-01T10:00:00Z
  built:     2026-12-02T08:00:00Z
  go:        go1.26.8 linux/amd64
`, v.String())

	built.Settings[4].Value = "false"
	assert.Contains(t, versionFrom(built, base).String(), "  revision:  98dad15c8a4b3e2f1d0c9b8a7f6e5d4c3b2a1f0e\n")

	// go install of a module version: a version, no VCS settings.
	installed := versionFrom(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/dmfpipe/dmfpipe", Version: "v1.4.0"}}, base)
	assert.Equal(t, `pipeline v1.4.0
  module:    github.com/dmfpipe/dmfpipe
  revision:  unknown (not recorded in this build; pipeline version --help says when)
  go:        go1.26.8 linux/amd64
`, installed.String())

	// No build information at all (a binary built without module support).
	assert.Equal(t, "pipeline (devel)\n  revision:  unknown (not recorded in this build; pipeline version --help says when)\n  go:        go0.0 linux/amd64\n",
		base.String())
}
