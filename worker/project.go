package worker

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/ingestjob"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/validate"
)

// compiledProject is what a project's mapping and rules compile to, once per process.
type compiledProject struct {
	mapping *mapping.Mapping
	rules   *validate.RowRules
	sets    ingestjob.SetRules
	entity  *catalog.Entity
}

// compile returns the compiled mapping and rules of an import project.
func (w *Worker) compile(p *config.Project) (*compiledProject, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cp, ok := w.compiled[p.Name]; ok {
		return cp, nil
	}
	ent, ok := w.cat.Lookup(p.Target.Entity)
	if !ok {
		return nil, fmt.Errorf("project %s: entity %q is not in the catalog", p.Name, p.Target.Entity)
	}
	m, err := mapping.Compile(p, w.cat)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", p.Name, err)
	}
	rules, err := validate.CompileRowRules(p, m.Fields(), w.cat)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", p.Name, err)
	}
	cp := &compiledProject{
		mapping: m, rules: rules, entity: ent,
		sets: ingestjob.SetRules{Unique: rules.UniqueFields(), Lookups: rules.Lookups()},
	}
	w.compiled[p.Name] = cp
	return cp, nil
}

// errNoLegalEntity is returned (wrapped) for a file whose legal entity cannot be told.
var errNoLegalEntity = errors.New("no legal entity")

// companyCapture is the placeholder of source.pattern that takes the legal entity from
// the file name.
const companyCapture = "{company}"

// listPattern is a project's source pattern as a glob: {company} matches anything.
func listPattern(src *config.Source) string {
	return strings.ReplaceAll(src.Pattern, companyCapture, "*")
}

// legalEntity returns the legal entity a file of project p goes to: target.legal_entity,
// or the {company} part of the file's name (relative to source.path).
func legalEntity(p *config.Project, file string) (string, error) {
	if p.Target.LegalEntity != "" {
		return p.Target.LegalEntity, nil
	}
	if !strings.Contains(p.Source.Pattern, companyCapture) {
		return "", fmt.Errorf("project %s: no target.legal_entity and no {company} in source.pattern: %w", p.Name, errNoLegalEntity)
	}
	var re strings.Builder
	re.WriteString("^")
	for i, part := range strings.Split(p.Source.Pattern, companyCapture) {
		if i > 0 {
			re.WriteString("([^/]+?)")
		}
		re.WriteString(globRegexp(part))
	}
	re.WriteString("$")
	rx, err := regexp.Compile(re.String())
	if err != nil {
		return "", fmt.Errorf("project %s: source.pattern: %w", p.Name, err)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(file, strings.Trim(p.Source.Path, "/")), "/")
	m := rx.FindStringSubmatch(rel)
	if m == nil || m[1] == "" {
		return "", fmt.Errorf("project %s: %s does not name a company as source.pattern %q expects: %w", p.Name, file, p.Source.Pattern, errNoLegalEntity)
	}
	return strings.ToUpper(m[1]), nil
}

// globRegexp translates the * and ? of a glob into a regular expression.
func globRegexp(glob string) string {
	var b strings.Builder
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return b.String()
}

// definitionGroup is the definition group of a chunk's lane: <group>-L<lane> when the
// project imports over several lanes.
func definitionGroup(p *config.Project, lane int) string {
	group := p.Target.DefinitionGroup
	if group == "" {
		group = p.Name
	}
	if p.Target.Lanes > 1 {
		return fmt.Sprintf("%s-L%d", group, lane)
	}
	return group
}

// executionID is the deterministic id of a chunk's upload attempt.
func executionID(project string, job int64, chunk, attempt int) string {
	return fmt.Sprintf("%s-%d-%d-%d", project, job, chunk, attempt)
}
