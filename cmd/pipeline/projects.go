package main

import (
	"sort"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
)

// compileProjects checks every import project's mapping and rules against the entity
// catalog, for `check`.
func compileProjects(cfg *config.Config) config.Problems {
	return app.New(cfg, app.Options{}).CompileAll()
}

// mergeProblems adds the catalog problems to the config problems, leaving out those on a
// line that already has a config problem (an invalid pattern is reported once), sorted by
// file and line.
func mergeProblems(cfgProbs, catalogProbs config.Problems) config.Problems {
	seen := map[config.Position]bool{}
	for _, p := range cfgProbs {
		seen[p.Position] = true
	}
	for _, p := range catalogProbs {
		if !seen[p.Position] {
			cfgProbs = append(cfgProbs, p)
		}
	}
	sort.SliceStable(cfgProbs, func(i, j int) bool {
		if cfgProbs[i].File != cfgProbs[j].File {
			return cfgProbs[i].File < cfgProbs[j].File
		}
		return cfgProbs[i].Line < cfgProbs[j].Line
	})
	return cfgProbs
}
