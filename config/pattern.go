package config

import (
	"slices"
	"strings"

	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

// CompanyCapture is the capture of source.pattern ({company}) that names the legal entity
// of a file when target.legal_entity is not set. Other captures are allowed and unused.
const CompanyCapture = "company"

// sourcePattern reports an import project's source.pattern that does not compile.
func (k checker) sourcePattern(key string, s *Source, fallback Position, label string) {
	if _, err := pattern.Parse(s.Pattern); err != nil {
		k.at(key+".source.pattern", fallback, "project %s: source.pattern: %v", label, err)
	}
}

// capturesCompany reports whether source.pattern captures {company}. A pattern that does
// not compile (reported by sourcePattern) counts when its text has {company}, so that a
// typo elsewhere in it is not reported a second time as a missing legal entity.
func capturesCompany(s *Source) bool {
	if s == nil {
		return false
	}
	pat, err := pattern.Parse(s.Pattern)
	if err != nil {
		return strings.Contains(s.Pattern, "{"+CompanyCapture+"}")
	}
	return slices.Contains(pat.Names(), CompanyCapture)
}
