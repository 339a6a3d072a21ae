package validate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// maxSuggestions bounds the names a "did you mean" offers.
const maxSuggestions = 3

// Suggest returns the candidates a mistyped name may have meant, best first and at most
// three, compared case-insensitively: those within config.Closest's edit distance of
// name, else those that contain name or are contained in it (a user who knows part of a
// name, ACCOUNT for CUSTOMERACCOUNT, writes that part). Candidates are returned as given.
func Suggest(name string, candidates []string) []string {
	name = strings.ToUpper(strings.TrimSpace(name))
	upper := make([]string, len(candidates))
	for i, c := range candidates {
		upper[i] = strings.ToUpper(c)
	}
	var out []string
	rest, restOrig := slices.Clone(upper), slices.Clone(candidates)
	for len(out) < maxSuggestions {
		best := config.Closest(name, rest)
		if best == "" {
			break
		}
		i := slices.Index(rest, best)
		out = append(out, restOrig[i])
		rest, restOrig = slices.Delete(rest, i, i+1), slices.Delete(restOrig, i, i+1)
	}
	if len(out) > 0 || len(name) < 3 {
		return out
	}
	for i, c := range upper {
		if len(out) == maxSuggestions {
			break
		}
		if strings.Contains(c, name) || (len(c) >= 3 && strings.Contains(name, c)) {
			out = append(out, candidates[i])
		}
	}
	return out
}

// SuggestEntities returns the labels of the entities a mistyped entity name may have
// meant, as Suggest finds them among every entity's label, AOT name and OData names.
func SuggestEntities(cat *catalog.Catalog, name string) []string {
	var names, labels []string
	for _, e := range cat.Entities() {
		for _, n := range []string{e.DMFName, e.AOTName, e.PublicEntity, e.PublicCollection} {
			if n != "" {
				names, labels = append(names, n), append(labels, e.DMFName)
			}
		}
	}
	var out []string
	for _, n := range Suggest(name, names) {
		if l := labels[slices.Index(names, n)]; !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// DidYouMean turns suggestions into the end of a message ("; did you mean A?", "; did
// you mean A, B or C?"), or "" when there are none.
func DidYouMean(suggestions []string) string {
	switch n := len(suggestions); n {
	case 0:
		return ""
	case 1:
		return "; did you mean " + suggestions[0] + "?"
	default:
		return "; did you mean " + strings.Join(suggestions[:n-1], ", ") + " or " + suggestions[n-1] + "?"
	}
}

// UnknownFieldProblem says that name is not a field of ent, offering the closest field
// names: "CUSTOMERACOUNT is not a field of Customers V3; did you mean CUSTOMERACCOUNT?".
// With nothing close, it says where the fields are listed.
func UnknownFieldProblem(ent *catalog.Entity, name string) string {
	names := make([]string, len(ent.Fields))
	for i, f := range ent.Fields {
		names[i] = f.StagingName
	}
	if hint := DidYouMean(Suggest(name, names)); hint != "" {
		return fmt.Sprintf("%s is not a field of %s%s", name, ent.DMFName, hint)
	}
	return fmt.Sprintf("%s is not a field of %s (`pipeline entities %q` lists its fields)", name, ent.DMFName, ent.DMFName)
}
