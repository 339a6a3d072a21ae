package main

import (
	"errors"
	"fmt"

	"github.com/dmfpipe/dmfpipe/config"

	// The source backends register themselves with ingest.OpenSource.
	_ "github.com/dmfpipe/dmfpipe/ingest/azblob"
	_ "github.com/dmfpipe/dmfpipe/ingest/local"
	_ "github.com/dmfpipe/dmfpipe/ingest/sftp"
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
