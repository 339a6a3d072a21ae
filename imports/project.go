package imports

import (
	"errors"
	"fmt"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
	"github.com/dmfpipe/dmfpipe/ingestjob"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/validate"
)

// Project is an import project compiled once per process: its mapping and row rules
// checked against the entity catalog, with the version of its settings.
type Project struct {
	*config.Project
	// Version is the fingerprint of the project's settings (config.Project.Fingerprint).
	Version string
	Entity  *catalog.Entity
	Mapping *mapping.Mapping
	Rules   *validate.RowRules
	Sets    ingestjob.SetRules
	// Pattern is source.pattern compiled: the files the project takes, and the captures
	// ({company}) of their names.
	Pattern *pattern.Pattern
}

// Compile compiles an import project's mapping and rules against the catalog; every
// problem is reported, located in the config.
func Compile(p *config.Project, cat *catalog.Catalog) (*Project, config.Problems) {
	var probs config.Problems
	if p.Kind != "import" || p.Target == nil || p.Source == nil {
		return nil, config.Problems{{Position: p.Pos, Msg: "project " + p.Name + " is not an import project with a source and a target"}}
	}
	pat, err := pattern.Parse(p.Source.Pattern)
	if err != nil {
		probs = append(probs, config.Problem{Position: p.Pos, Msg: fmt.Sprintf("project %s: source.pattern: %v", p.Name, err)})
	}
	ent, known := cat.Lookup(p.Target.Entity)
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
	// An unknown entity is reported once, by the mapping.
	if err != nil && (len(probs) == 0 || known) {
		probs = append(probs, asProblems(err)...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return &Project{
		Project: p, Version: p.Fingerprint(), Entity: ent, Mapping: m, Rules: rules,
		Sets:    ingestjob.SetRules{Unique: rules.UniqueFields(), Lookups: rules.Lookups()},
		Pattern: pat,
	}, nil
}

func asProblems(err error) config.Problems {
	var ps config.Problems
	if errors.As(err, &ps) {
		return ps
	}
	return config.Problems{{Msg: err.Error()}}
}

// KeyFields are the entity's key fields as F&O's answers name them.
func (p *Project) KeyFields() []KeyField {
	out := make([]KeyField, len(p.Entity.KeyFields))
	for i, name := range p.Entity.KeyFields {
		out[i] = KeyField{Name: name, Label: name}
		if f, ok := p.Entity.Field(name); ok && f.ODataName != "" {
			out[i].Label = f.ODataName
		}
	}
	return out
}
