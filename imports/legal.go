package imports

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/dmfpipe/dmfpipe/config"
)

// ErrNoLegalEntity is returned (wrapped) for a file whose legal entity cannot be told, or
// whose name does not fit the project's pattern.
var ErrNoLegalEntity = errors.New("no legal entity")

// companyCapture is the capture of source.pattern that takes the legal entity from the
// file name.
const companyCapture = "{company}"

// listPattern is a project's source pattern as a glob: {company} matches anything.
func listPattern(pattern string) string {
	return strings.ReplaceAll(pattern, companyCapture, "*")
}

// LegalEntity returns the legal entity a file of project p goes to: target.legal_entity,
// or the {company} part of the file's name. file is relative to the source root, or, with
// local, a local path whose last elements are matched against the pattern (`run --file`).
func LegalEntity(p *config.Project, file string, local bool) (string, error) {
	if p.Target.LegalEntity != "" && !local {
		return p.Target.LegalEntity, nil
	}
	pattern := "*"
	if p.Source != nil && p.Source.Pattern != "" {
		pattern = p.Source.Pattern
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(file, strings.Trim(sourcePath(p), "/")), "/")
	if local {
		parts := strings.Split(strings.Trim(file, "/"), "/")
		rel = strings.Join(parts[max(0, len(parts)-strings.Count(pattern, "/")-1):], "/")
	}
	var re strings.Builder
	re.WriteString("^")
	for i, part := range strings.Split(pattern, companyCapture) {
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
	m := rx.FindStringSubmatch(rel)
	if m == nil {
		return "", fmt.Errorf("project %s: %s does not fit source.pattern %q: %w", p.Name, file, pattern, ErrNoLegalEntity)
	}
	if p.Target.LegalEntity != "" {
		return p.Target.LegalEntity, nil
	}
	if !strings.Contains(pattern, companyCapture) {
		return "", fmt.Errorf("project %s: no target.legal_entity and no {company} in source.pattern: %w", p.Name, ErrNoLegalEntity)
	}
	if m[1] == "" {
		return "", fmt.Errorf("project %s: %s does not name a company as source.pattern %q expects: %w", p.Name, file, pattern, ErrNoLegalEntity)
	}
	return strings.ToUpper(m[1]), nil
}

func sourcePath(p *config.Project) string {
	if p.Source == nil {
		return ""
	}
	return p.Source.Path
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
