package mapping_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/mapping"
)

func ptr(s string) *string { return &s }

func TestCompileColumnsRenamesAndTransforms(t *testing.T) {
	t.Parallel()
	cols := config.Columns{
		{Field: "Account", From: "CUSTOMERACCOUNT"},
		{Field: "Name", From: "organizationname", Transforms: []*config.Transform{{Name: "trim"}, {Name: "upper"}}},
		{Field: "Group", From: "CUSTOMERGROUPID", Map: map[string]string{"10": "Retail"}, Default: ptr("none")},
		{Field: "Source", Const: ptr("F&O")},
		{Field: "Label", Expr: `CUSTOMERACCOUNT + "/" + CUSTOMERGROUPID`},
	}
	m, err := mapping.CompileColumns("export", "Customers V3", cols)
	require.NoError(t, err)
	assert.Equal(t, []string{"Account", "Name", "Group", "Source", "Label"}, m.Fields(), "column names as written")
	b, err := m.Bind([]string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID"})
	require.NoError(t, err)
	row, errs := b.Apply(reader.Record{Values: []string{"C001", "  contoso ", "10"}}, 1, nil)
	require.Empty(t, errs)
	assert.Equal(t, []string{"C001", "CONTOSO", "Retail", "F&O", "C001/10"}, row)
	row, _ = b.Apply(reader.Record{Values: []string{"C002", "x", ""}}, 2, nil)
	assert.Equal(t, "none", row[2])

	_, err = m.Bind([]string{"ACCOUNT"})
	var be *mapping.BindError
	require.ErrorAs(t, err, &be, "a field the data file lacks is named")
	assert.Contains(t, be.Error(), "CUSTOMERACCOUNT")
}

func TestCompileColumnsProblems(t *testing.T) {
	t.Parallel()
	_, err := mapping.CompileColumns("export", "Customers V3", config.Columns{
		{Field: "A", Pos: config.Position{File: "c.yaml", Line: 7}},
		{Field: "B", From: "X", Transforms: []*config.Transform{{Name: "shout", Pos: config.Position{File: "c.yaml", Line: 8}}}},
	})
	var probs config.Problems
	require.ErrorAs(t, err, &probs)
	require.Len(t, probs, 2)
	assert.Equal(t, "c.yaml:7: project export: entities.Customers V3.columns.A: needs from (a field of the entity), const, expr or default", probs[0].String())
	assert.Contains(t, probs[1].String(), "c.yaml:8: project export: entities.Customers V3.columns.B: unknown transform \"shout\" (known: ")
}
