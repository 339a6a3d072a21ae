package main

import (
	"errors"
	"sort"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/validate"
)

// compiledProject is an import project's mapping and row rules, checked against the catalog.
type compiledProject struct {
	mapping *mapping.Mapping
	rules   *validate.RowRules
}

// compileProject compiles one import project's mapping and row rules.
func compileProject(p *config.Project, cat *catalog.Catalog) (*compiledProject, config.Problems) {
	var probs config.Problems
	m, err := mapping.Compile(p, cat)
	fields := make([]string, 0, len(p.Mapping))
	if err != nil {
		probs = append(probs, asProblems(err)...)
		for _, fm := range p.Mapping { // check the rules too, against the fields as written
			fields = append(fields, fm.Field)
		}
	} else {
		fields = m.Fields()
	}
	rules, err := validate.CompileRowRules(p, fields, cat)
	if err != nil && (len(probs) == 0 || !unknownEntity(p, cat)) {
		probs = append(probs, asProblems(err)...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return &compiledProject{mapping: m, rules: rules}, nil
}

// compileProjects checks every import project's mapping and rules against the entity
// catalog, for `check`. Projects whose target config is already broken are skipped:
// config validation reports them.
func compileProjects(cfg *config.Config) config.Problems {
	cat := catalog.Default()
	var probs config.Problems
	for _, p := range cfg.Projects {
		if p.Kind != "import" || p.Target == nil || p.Target.Entity == "" || len(p.Mapping) == 0 {
			continue
		}
		_, ps := compileProject(p, cat)
		probs = append(probs, ps...)
	}
	return probs
}

func unknownEntity(p *config.Project, cat *catalog.Catalog) bool {
	if p.Target == nil {
		return true
	}
	_, ok := cat.Lookup(p.Target.Entity)
	return !ok
}

func asProblems(err error) config.Problems {
	var ps config.Problems
	if errors.As(err, &ps) {
		return ps
	}
	return config.Problems{{Msg: err.Error()}}
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
