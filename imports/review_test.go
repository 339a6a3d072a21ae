package imports_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

func TestJobOutcomeCountsRowsSetAsideAsHandled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		counts staging.Counts
		err    string
		want   string
	}{
		{"all imported", staging.Counts{Total: 10, Imported: 10}, "", jobhistory.JobSucceeded},
		{"imported and set aside", staging.Counts{Total: 10, Imported: 8, Skipped: 2}, "", jobhistory.JobSucceeded},
		{"all set aside", staging.Counts{Total: 3, Skipped: 3}, "", jobhistory.JobSucceeded},
		{"one invalid left", staging.Counts{Total: 10, Imported: 8, Skipped: 1, Invalid: 1}, "", jobhistory.JobPartiallySucceeded},
		{"one fixed, not sent yet", staging.Counts{Total: 10, Imported: 9, Fixed: 1}, "", jobhistory.JobPartiallySucceeded},
		{"rejected again", staging.Counts{Total: 10, Imported: 9, Rejected: 1}, "", jobhistory.JobPartiallySucceeded},
		{"nothing imported, rows waiting", staging.Counts{Total: 4, Skipped: 2, Rejected: 2}, "", jobhistory.JobFailed},
		{"an error", staging.Counts{Total: 4, Skipped: 4}, "error rate", jobhistory.JobFailed},
		{"no rows", staging.Counts{}, "", jobhistory.JobSucceeded},
	} {
		assert.Equal(t, tc.want, imports.JobOutcome(tc.counts, tc.err), tc.name)
	}
	c := imports.JobCounts(10, staging.Counts{Total: 10, Imported: 7, Rejected: 1, Skipped: 2}, 0)
	assert.Equal(t, jobhistory.JobCounts{Read: 10, Staged: 10, Uploaded: 8, Imported: 7, Rejected: 1, Skipped: 2}, c)
}

// An edited row is checked by the project's own rules, the catalog's and its reference
// lists, with the same words as at ingest.
func TestRecheckUsesTheProjectsRules(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(testsvc.WriteConfig(t, testsvc.OfflineImportConfig("cust", `    format: { type: csv }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT:   { from: Account }
      CUSTOMERGROUPID:   { from: Group }
      CREDITLIMIT:       { from: Limit }
      SALESCURRENCYCODE: { const: EUR }
      PARTYTYPE:         { const: Person }
      PERSONLASTNAME:    { const: Doe }
    validate:
      - { field: CUSTOMERACCOUNT, required: true, max_length: 5, unique: true }
      - { field: CUSTOMERGROUPID, lookup: groups }
    references:
      - { name: groups, values: ["10", "20", "it's"] }
`)))
	require.NoError(t, err)
	p, probs := imports.Compile(cfg.Projects[0], catalog.Default())
	require.Empty(t, probs)
	// The job's fields in another order than the mapping's, one the project no longer has.
	l := staging.Layout{Fields: []string{"CREDITLIMIT", "OLDFIELD", "CUSTOMERGROUPID", "CUSTOMERACCOUNT", "SALESCURRENCYCODE", "PARTYTYPE", "PERSONLASTNAME"}}
	check := imports.Recheck(p, l)
	assert.Equal(t, [][]string{{"CUSTOMERACCOUNT"}}, check.Unique)
	assert.Empty(t, check.Row([]string{"12.5", "x", "20", "C1", "EUR", "Person", "Doe"}, 1, 2))

	byRule := map[validate.Rule]validate.Error{}
	for _, e := range check.Row([]string{"lots", "x", `o'k\`, "TOOLONG", "EUR", "Person", "Doe"}, 3, 4) {
		byRule[e.Rule] = e
	}
	assert.Equal(t, validate.Error{Row: 3, Line: 4, Field: "CUSTOMERGROUPID", Rule: validate.RuleLookup, Msg: `E'o''k\\' is not in groups`}, byRule[validate.RuleLookup])
	assert.Equal(t, "CUSTOMERACCOUNT", byRule[validate.RuleMaxLength].Field)
	assert.Equal(t, "CREDITLIMIT", byRule[validate.RuleType].Field, "the catalog's types apply")
	assert.Len(t, byRule, 3)
	// The project's required rule, and the catalog's mandatory customer group.
	errs := check.Row([]string{"", "", "", "", "EUR", "Person", "Doe"}, 5, 6)
	require.Len(t, errs, 2)
	for i, f := range []string{"CUSTOMERACCOUNT", "CUSTOMERGROUPID"} {
		assert.Equal(t, validate.Error{Row: 5, Line: 6, Field: f, Rule: validate.RuleRequired, Msg: "a value is required"}, errs[i])
	}
}
