package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/exports/pathtemplate"
	"github.com/dmfpipe/dmfpipe/ingest"
)

// ExportProject compiles an export project of the configuration (once) and returns it:
// an error wrapping exports.ErrUnknownProject when the configuration has no export
// project of that name, config.Problems when it does not compile.
func (a *App) ExportProject(name string) (*exports.Project, error) {
	cp, err := a.Project(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", exports.ErrUnknownProject, err)
	}
	if cp.Kind != "export" {
		return nil, fmt.Errorf("project %s is an %s project: %w", name, cp.Kind, exports.ErrUnknownProject)
	}
	return a.exp.get(name, func() (*exports.Project, config.Problems) { return exports.Compile(cp, a.cat) })
}

// compileExports compiles every export project with a destination and returns the
// problems. A project whose path templates do not parse is left to config validation,
// which reports them at their lines.
func (a *App) compileExports() config.Problems {
	var probs config.Problems
	for _, p := range a.cfg.Projects {
		if p.Kind != "export" || p.Destination == nil {
			continue
		}
		if !templatesParse(p) {
			probs = append(probs, exports.ColumnProblems(p)...)
			continue
		}
		var ps config.Problems
		if _, err := a.ExportProject(p.Name); errors.As(err, &ps) {
			probs = append(probs, ps...)
		}
	}
	return probs
}

// templatesParse reports whether an export project's path templates all parse.
func templatesParse(p *config.Project) bool {
	paths := []string{p.Destination.Path}
	for _, extra := range []string{p.Destination.Manifest, p.Destination.RawPackage} {
		if extra != "" {
			paths = append(paths, extra)
		}
	}
	for _, e := range p.Entities {
		if e.Path != "" {
			paths = append(paths, e.Path)
		}
	}
	for _, s := range paths {
		if _, err := pathtemplate.Parse(s); err != nil {
			return false
		}
	}
	return true
}

// Destination opens a connection by name to write export files to.
func (a *App) Destination(ctx context.Context, connection string) (ingest.Destination, error) {
	cn, ok := a.cfg.Connections[connection]
	if !ok {
		return nil, fmt.Errorf("connection %q is not in the configuration", connection)
	}
	return ingest.OpenDestination(ctx, cn)
}
