package imports

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dmfpipe/dmfpipe/config"
)

// ErrNoLegalEntity is returned (wrapped) for a file whose legal entity cannot be told, or
// whose name does not fit the project's pattern.
var ErrNoLegalEntity = errors.New("no legal entity")

// LegalEntity returns the legal entity a file of project p goes to: target.legal_entity,
// or what the {company} capture of source.pattern takes from the file's name. file is a
// path in the project's source; with local, a local path (`run --file`) whose last
// elements must fit the pattern, so that a project that takes its company from the name
// works on a file given by hand, and a file that is not the project's is refused.
func LegalEntity(p *Project, file string, local bool) (string, error) {
	var (
		caps map[string]string
		ok   bool
	)
	if local {
		caps, ok = p.Pattern.MatchTail(file)
	} else {
		rel := strings.TrimPrefix(strings.TrimPrefix(file, strings.Trim(p.Source.Path, "/")), "/")
		caps, ok = p.Pattern.Match(rel)
	}
	if !ok && (local || p.Target.LegalEntity == "") {
		return "", fmt.Errorf("project %s: %s does not fit source.pattern %q: %w", p.Name, file, p.Pattern, ErrNoLegalEntity)
	}
	if p.Target.LegalEntity != "" {
		return p.Target.LegalEntity, nil
	}
	company := caps[config.CompanyCapture]
	if company == "" {
		return "", fmt.Errorf("project %s: no target.legal_entity and no {%s} capture in source.pattern %q: %w",
			p.Name, config.CompanyCapture, p.Pattern, ErrNoLegalEntity)
	}
	return strings.ToUpper(company), nil
}
