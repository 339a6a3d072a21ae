package exports

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/exports/pathtemplate"
	"github.com/dmfpipe/dmfpipe/exports/writer"
	"github.com/dmfpipe/dmfpipe/mapping"
)

// Project is an export project compiled once per process: its path templates, its
// writer's options and the columns of its entities.
type Project struct {
	*config.Project
	// Version is the fingerprint of the project's settings (config.Project.Fingerprint).
	Version string
	// Writer says how the data files are written.
	Writer writer.Options
	// Path names the data files; Manifest the manifest of a run; Raw the copy of the
	// package (nil: none).
	Path, Manifest, Raw *pathtemplate.Template
	// Location is the project's time zone, for {date} and {time}.
	Location *time.Location
	entities []*Entity
	cat      *catalog.Catalog
}

// Entity is how one entity is written.
type Entity struct {
	// Name is the entity as the config names it.
	Name string
	// Path overrides the project's Path; nil when it does not.
	Path *pathtemplate.Template
	// Columns are the output columns; nil writes the data file's columns as they are.
	Columns *mapping.Mapping
	Skip    bool
}

// ErrUnknownProject is returned (wrapped) for a project a node's configuration does not
// have as an export project.
var ErrUnknownProject = errors.New("not an export project of this configuration")

// Compile compiles an export project; every problem is reported, located in the config.
func Compile(p *config.Project, cat *catalog.Catalog) (*Project, config.Problems) {
	if p.Kind != "export" || p.Destination == nil {
		return nil, config.Problems{{Position: p.Pos, Msg: "project " + p.Name + " is not an export project with a destination"}}
	}
	var probs config.Problems
	add := func(msg string, args ...any) {
		probs = append(probs, config.Problem{Position: p.Pos, Msg: fmt.Sprintf("project %s: ", p.Name) + fmt.Sprintf(msg, args...)})
	}
	out := &Project{Project: p, Version: p.Fingerprint(), cat: cat}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		add("unknown time zone %q", p.Timezone)
	}
	out.Location = loc
	parse := func(key, s string) *pathtemplate.Template {
		t, err := pathtemplate.Parse(s)
		if err != nil {
			add("%s: %v", key, err)
		}
		return t
	}
	d := p.Destination
	out.Path = parse("destination.path", d.Path)
	manifest := d.Manifest
	if manifest == "" {
		manifest = path.Join(path.Dir(d.Path), "{project}_{execution}.manifest.json")
	}
	out.Manifest = parse("destination.manifest", manifest)
	if d.RawPackage != "" {
		out.Raw = parse("destination.raw_package", d.RawPackage)
	}
	out.Writer = writer.Options{Format: p.ExportFormat(), Encoding: strings.ToLower(p.Format.Encoding),
		NoHeader: p.Format.Header != nil && !*p.Format.Header, LF: p.Format.LineEnd == "lf"}
	if p.Format.BOM != nil {
		out.Writer.BOM = *p.Format.BOM
	}
	if p.Format.Delimiter != "" {
		out.Writer.Delimiter = []rune(p.Format.Delimiter)[0]
	}
	if out.Writer.Encoding == "utf-16" {
		out.Writer.Encoding = writer.UTF16
	}
	if err := out.Writer.Validate(); err != nil {
		add("format: %v", err)
	}
	entities, eprobs := compileEntities(p, parse)
	out.entities = entities
	probs = append(probs, eprobs...)
	if len(probs) > 0 {
		return nil, probs
	}
	return out, nil
}

// compileEntities compiles the project's entities: their paths (with parse) and their
// columns, in name order.
func compileEntities(p *config.Project, parse func(key, s string) *pathtemplate.Template) ([]*Entity, config.Problems) {
	var probs config.Problems
	names := make([]string, 0, len(p.Entities))
	for name := range p.Entities {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []*Entity
	for _, name := range names {
		ce := p.Entities[name]
		e := &Entity{Name: name, Skip: ce.Skip}
		if ce.Path != "" && parse != nil {
			e.Path = parse("entities."+name+".path", ce.Path)
		}
		if len(ce.Columns) > 0 {
			m, err := mapping.CompileColumns(p.Name, name, ce.Columns)
			var ps config.Problems
			if errors.As(err, &ps) {
				probs = append(probs, ps...)
			} else if err != nil {
				probs = append(probs, config.Problem{Position: ce.Pos, Msg: fmt.Sprintf("project %s: entities.%s.columns: %v", p.Name, name, err)})
			}
			e.Columns = m
		}
		out = append(out, e)
	}
	return out, probs
}

// ColumnProblems compiles only an export project's columns and returns their problems:
// what `check` reports of a project whose other settings config validation refused.
func ColumnProblems(p *config.Project) config.Problems {
	_, probs := compileEntities(p, nil)
	return probs
}

// Entity returns how the entity F&O labels name (a package's EntityName) is written: the
// project's entities match it by that name, or by any name the catalog knows the entity
// by. nil when the project says nothing of it.
func (p *Project) Entity(name string) *Entity {
	known, _ := p.cat.Lookup(name)
	for _, e := range p.entities {
		if strings.EqualFold(e.Name, name) {
			return e
		}
		if other, ok := p.cat.Lookup(e.Name); ok && known != nil && other == known {
			return e
		}
	}
	return nil
}

// PathOf is the template naming an entity's data files.
func (p *Project) PathOf(e *Entity) *pathtemplate.Template {
	if e != nil && e.Path != nil {
		return e.Path
	}
	return p.Path
}
