package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildTime is when the binary was built, set by the linker:
// go build -ldflags "-X main.buildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)". Go records no
// build time of its own (vcs.time is the commit's time).
var buildTime string

// versionInfo is what `pipeline version` reports.
type versionInfo struct {
	// Version is the main module's version: a tag (v1.2.3), a pseudo-version for an
	// untagged commit, or "(devel)" when Go knows none (go run, go test).
	Version string `json:"version"`
	// Module is the main module's path.
	Module string `json:"module,omitempty"`
	// Revision is the VCS commit the binary was built from, empty when Go recorded none
	// (go run, go test, -buildvcs=false, a linked git worktree, go install PKG@VERSION).
	Revision string `json:"revision,omitempty"`
	// CommitTime is the revision's commit time (RFC 3339).
	CommitTime string `json:"commit_time,omitempty"`
	// Modified reports a build from a work tree with uncommitted changes.
	Modified bool `json:"modified"`
	// BuildTime is buildTime, when the build set it.
	BuildTime string `json:"build_time,omitempty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// readVersion reads the binary's build information.
func readVersion() versionInfo {
	v := versionInfo{Version: "(devel)", BuildTime: buildTime, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	return versionFrom(bi, v)
}

// versionFrom fills v from build information.
func versionFrom(bi *debug.BuildInfo, v versionInfo) versionInfo {
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	v.Module = bi.Main.Path
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the text of `pipeline version` and `pipeline --version`.
func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline %s\n", v.Version)
	line := func(k, val string) { fmt.Fprintf(&b, "  %-10s %s\n", k+":", val) }
	if v.Module != "" {
		line("module", v.Module)
	}
	switch {
	case v.Revision == "":
		line("revision", "unknown (not recorded in this build; pipeline version --help says when)")
	case v.Modified:
		line("revision", v.Revision+" (modified: built with uncommitted changes)")
	default:
		line("revision", v.Revision)
	}
	if v.CommitTime != "" {
		line("committed", v.CommitTime)
	}
	if v.BuildTime != "" {
		line("built", v.BuildTime)
	}
	line("go", v.GoVersion+" "+v.Platform)
	return b.String()
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version of this binary",
		Long: `version prints what the binary knows of its own build: the module version (a tag,
a pseudo-version for an untagged commit, or "(devel)"), the VCS revision and its commit
time (and whether the work tree had uncommitted changes), the build time when the build
set it, and the Go toolchain. "pipeline --version" prints the same.

Go records the revision when it builds from a git clone (make build, go build). It
records none for go run, go test, a build with -buildvcs=false, a build in a linked git
worktree (golang/go#58218), or go install PKG@VERSION (whose version is then the tag it
installed). The build time is set with
  go build -ldflags "-X main.buildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/pipeline`,
		Example: `  pipeline version
  pipeline version --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(fmt.Errorf("version takes no arguments, got %d", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readVersion()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), v)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return cmd
}

// setVersionFlag gives root a --version flag that prints what `pipeline version` prints.
func setVersionFlag(root *cobra.Command) {
	root.Version = readVersion().String()
	root.SetVersionTemplate("{{.Version}}")
	root.Flags().BoolP("version", "v", false, "print the version, as `pipeline version` does")
}
