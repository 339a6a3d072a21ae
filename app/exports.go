package app

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/exports/pathtemplate"
	"github.com/dmfpipe/dmfpipe/ingest"
)

// exportParts are the compiled export projects, once per process.
type exportParts struct {
	mu       sync.Mutex
	projects map[string]*exports.Project
	problems map[string]config.Problems
}

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
	e := &a.exp
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.projects[name]; ok {
		return p, nil
	}
	if probs, ok := e.problems[name]; ok {
		return nil, probs
	}
	if e.projects == nil {
		e.projects, e.problems = map[string]*exports.Project{}, map[string]config.Problems{}
	}
	p, probs := exports.Compile(cp, a.cat)
	if len(probs) > 0 {
		e.problems[name] = probs
		return nil, probs
	}
	e.projects[name] = p
	return p, nil
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
