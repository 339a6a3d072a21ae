package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

func TestCheckMappingsAgainstCatalog(t *testing.T) {
	t.Parallel()
	file := testsvc.WriteConfig(t, testsvc.OfflineImportConfig("p", `    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT: { from: A, transforms: [{ pad_left: { width: -1 } }] }
      CUSTOMERGROUPID: { const: "10" }
      SALESCURRENCYCODE: { const: EURO }
      ORGANIZATIONNAME: { from: Name, transforms: [trimm] }
    validate:
      - { field: CUSTOMERACCOUNT, pattern: "(" }
      - { field: NOPE, required: true }
`+testsvc.ImportProject("q", `    target: { entity: Customers V9, legal_entity: USMF, definition_group: G }
    mapping:
      X: { from: A }
`)))
	out, code := runCLI(t, "check", "-c", file)
	assert.Equal(t, exitUsage, code)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		lines = append(lines, strings.TrimPrefix(l, file))
	}
	require.Len(t, lines, 6, out)
	assert.Equal(t, ":12: project p: field CUSTOMERACCOUNT: pad_left: width must be between 1 and 1000", lines[0])
	assert.Equal(t, `:14: project p: field SALESCURRENCYCODE: const "EURO" is too long: 4 characters, at most 3 allowed`, lines[1])
	assert.Contains(t, lines[2], `:15: project p: field ORGANIZATIONNAME: unknown transform "trimm"`)
	assert.Equal(t, ":17: project p: invalid pattern: error parsing regexp: missing closing ): `(`", lines[3], "reported once")
	assert.Equal(t, ":18: project p: validate: NOPE is not a field of Customers V3 (`pipeline entities \"Customers V3\"` lists its fields)", lines[4])
	assert.Contains(t, lines[5], `:19: project q: entity "Customers V9" is not in the catalog`)
}
