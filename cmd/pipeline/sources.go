package main

import (
	"errors"
	"fmt"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/imports"
)

// loadConfig loads a config for a command; problems are a usage error listing them all.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	var problems config.Problems
	if errors.As(err, &problems) {
		return nil, usageError(fmt.Errorf("%s has problems (run pipeline check):\n%w", path, err))
	}
	if err != nil {
		return nil, usageError(err)
	}
	return cfg, nil
}

// loadApp loads a config and returns its parts (the composition root).
func loadApp(path string, opts app.Options) (*app.App, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return app.New(cfg, opts), nil
}

// importProject compiles an import project of a's config; a name that is not there, a
// project that is not an import, or one that does not compile is a usage error.
func importProjectOf(a *app.App, name string) (*imports.Project, error) {
	p, err := a.Compile(name)
	if err != nil {
		return nil, usageError(err)
	}
	return p, nil
}
