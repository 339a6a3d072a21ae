package mapping

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/transform"
	"github.com/dmfpipe/dmfpipe/validate"
)

// What an unmapped value does (FieldMapping.Unmapped).
const (
	UnmappedKeep    = "keep"
	UnmappedDefault = "default"
	UnmappedError   = "error"
)

// Mapping is a project's compiled mapping: one field per mapped entity field, in config order.
type Mapping struct {
	// Entity is the target entity.
	Entity *catalog.Entity
	fields []*field
	names  []string
}

type field struct {
	name string // staging name
	cat  *catalog.Field
	pos  config.Position

	from     string // source column as written
	hasConst bool
	constVal string
	hasDef   bool
	def      string
	table    map[string]string
	keys     []string // table keys, for case-insensitive fallback
	unmapped string
	steps    []*transform.Step
	program  *vm.Program
	exprCols []string // columns the expression names literally
}

// Compile checks p's mapping against the catalog and compiles it. Problems are returned
// as config.Problems, each located at the config line at fault.
func Compile(p *config.Project, cat *catalog.Catalog) (*Mapping, error) {
	var probs config.Problems
	add := func(pos config.Position, format string, args ...any) {
		probs = append(probs, config.Problem{Position: pos, Msg: fmt.Sprintf("project %s: ", p.Name) + fmt.Sprintf(format, args...)})
	}
	if p.Target == nil || p.Target.Entity == "" {
		add(p.Pos, "target.entity is required")
		return nil, probs
	}
	ent, ok := cat.Lookup(p.Target.Entity)
	if !ok {
		add(p.Pos, "entity %q is not in the catalog%s (known: %s)", p.Target.Entity, validate.DidYouMean(validate.SuggestEntities(cat, p.Target.Entity)), entityNames(cat))
		return nil, probs
	}
	if ent.ReadOnly {
		add(p.Pos, "entity %q is read-only: it can be exported, not imported", ent.DMFName)
	}
	m := &Mapping{Entity: ent}
	seen := map[string]config.Position{}
	for _, fm := range p.Mapping {
		cf, ok := ent.Field(fm.Field)
		if !ok {
			add(fm.Pos, "%s", validate.UnknownFieldProblem(ent, fm.Field))
			continue
		}
		if prev, dup := seen[cf.StagingName]; dup {
			add(fm.Pos, "%s maps field %s, already mapped at %s", fm.Field, cf.StagingName, prev)
			continue
		}
		seen[cf.StagingName] = fm.Pos
		f, fieldProbs := compileField(fm, cf)
		for _, pr := range fieldProbs {
			add(pr.Position, "field %s: %s", cf.StagingName, pr.Msg)
		}
		m.fields = append(m.fields, f)
		m.names = append(m.names, f.name)
	}
	mappingPos := p.Pos // missing fields are reported at the mapping's first field
	if len(p.Mapping) > 0 {
		mappingPos = p.Mapping[0].Pos
	}
	for _, miss := range missingMandatory(ent, p.Mapping, seen) {
		add(mappingPos, "%s", miss.msg)
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, probs
	}
	return m, nil
}

// Fields lists the mapped entity fields (upper-case staging names) in row order.
func (m *Mapping) Fields() []string { return slices.Clone(m.names) }

func compileField(fm *config.FieldMapping, cf *catalog.Field) (*field, config.Problems) {
	var probs config.Problems
	add := func(pos config.Position, format string, args ...any) {
		probs = append(probs, config.Problem{Position: pos, Msg: fmt.Sprintf(format, args...)})
	}
	f := &field{name: cf.StagingName, cat: cf, pos: fm.Pos, from: strings.TrimSpace(fm.From), unmapped: fm.Unmapped}
	if f.unmapped == "" {
		f.unmapped = UnmappedKeep
	}
	fit := func(what, v string) string {
		if cf.Type == catalog.TypeEnum {
			if name := validate.EnumName(cf.EnumValues, v); name != "" {
				v = name
			}
		}
		if msg := validate.TypeProblem(cf.Type, cf.EnumValues, v); msg != "" {
			add(fm.Pos, "%s %s", what, msg)
		} else if msg := validate.LengthProblem(cf.MaxLen, v); msg != "" {
			add(fm.Pos, "%s %q is too long: %s", what, v, msg)
		}
		return v
	}
	if fm.Const != nil {
		f.hasConst, f.constVal = true, fit("const", *fm.Const)
	}
	if fm.Default != nil {
		f.hasDef, f.def = true, fit("default", *fm.Default)
	}
	if len(fm.Map) > 0 {
		f.table = make(map[string]string, len(fm.Map))
		for k, v := range fm.Map {
			f.table[k] = fit(fmt.Sprintf("map value for %q:", k), v)
			f.keys = append(f.keys, k)
		}
		slices.Sort(f.keys)
	}
	for _, t := range fm.Transforms {
		step, err := transform.Compile(t, cf)
		if err != nil {
			var te *transform.Error
			if errors.As(err, &te) {
				add(te.Pos, "%s", te.Msg)
			} else {
				add(t.Pos, "%v", err)
			}
			continue
		}
		f.steps = append(f.steps, step)
	}
	if fm.Expr != "" {
		prog, cols, err := compileExpr(fm.Expr)
		if err != nil {
			add(fm.Pos, "expr: %s", exprMessage(err))
		}
		f.program, f.exprCols = prog, cols
	}
	return f, probs
}

// Required lists the fields a mapping of ent must have when it maps nothing else, in
// catalog order: the mandatory fields without a catalog default or number sequence, and
// those the entity's conditional rules require given the other fields' defaults (the
// first of a set of which one is needed). Compile reports each one a mapping leaves out.
func Required(ent *catalog.Entity) []string {
	var names []string
	for _, miss := range missingMandatory(ent, nil, nil) {
		if !slices.Contains(names, miss.fields[0]) {
			names = append(names, miss.fields[0])
		}
	}
	return names
}

// missing is a mandatory field, or a set of fields of which one is needed, that a
// mapping leaves out.
type missing struct {
	fields []string
	msg    string
}

// missingMandatory lists the mandatory fields the mapping leaves empty, counting catalog
// defaults and the conditional rules whose condition is decided by config alone.
func missingMandatory(ent *catalog.Entity, fms config.Mapping, mapped map[string]config.Position) []missing {
	var out []missing
	for _, cf := range ent.Fields {
		if cf.Mandatory && !cf.AutoGenerate && cf.Default == "" {
			if _, ok := mapped[cf.StagingName]; !ok {
				out = append(out, missing{[]string{cf.StagingName}, fmt.Sprintf("mandatory field %s of %s is not mapped (add it to mapping, with from, const or default)", cf.StagingName, ent.DMFName)})
			}
		}
	}
	constOf := func(name string) (string, bool) {
		if _, ok := mapped[name]; !ok {
			cf, _ := ent.Field(name)
			return cf.Default, true
		}
		for _, fm := range fms {
			cf, _ := ent.Field(fm.Field)
			if cf == nil || cf.StagingName != name {
				continue
			}
			switch {
			case fm.Const != nil:
				return *fm.Const, true
			case fm.From == "" && fm.Expr == "" && fm.Default != nil:
				return *fm.Default, true
			}
		}
		return "", false
	}
	for _, r := range ent.Rules {
		v, known := constOf(r.WhenField)
		if !known {
			continue // decided per row by the validation rules
		}
		applies := (r.WhenEquals != "" && strings.EqualFold(v, r.WhenEquals)) || (r.WhenNotEmpty && v != "")
		if !applies {
			continue
		}
		cond := fmt.Sprintf("%s requires it when %s is %s", ent.DMFName, r.WhenField, v)
		for _, need := range r.RequireAll {
			if _, ok := mapped[need]; !ok {
				out = append(out, missing{[]string{need}, fmt.Sprintf("%s must be mapped: %s", need, cond)})
			}
		}
		if len(r.RequireAny) > 0 && !slices.ContainsFunc(r.RequireAny, func(n string) bool { _, ok := mapped[n]; return ok }) {
			out = append(out, missing{r.RequireAny, fmt.Sprintf("one of %s must be mapped: %s", strings.Join(r.RequireAny, ", "), cond)})
		}
	}
	return out
}

func entityNames(cat *catalog.Catalog) string {
	var names []string
	for _, e := range cat.Entities() {
		names = append(names, e.DMFName)
	}
	return strings.Join(names, ", ")
}
