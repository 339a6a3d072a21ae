package validate_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/validate"
)

func TestSuggest(t *testing.T) {
	t.Parallel()
	cust, ok := catalog.Default().Lookup("Customers V3")
	require.True(t, ok)
	var names []string
	for _, f := range cust.Fields {
		names = append(names, f.StagingName)
	}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"CUSTOMERACOUNT", []string{"CUSTOMERACCOUNT"}},
		{"customeraccont", []string{"CUSTOMERACCOUNT"}},                             // case-insensitive
		{"ADRESSCITY", []string{"ADDRESSCITY"}},                                     // one edit
		{"PERSONFIRSTNAM", []string{"PERSONFIRSTNAME"}},                             // the nearest only when one is nearer
		{"ACCOUNT", []string{"CUSTOMERACCOUNT", "INVOICEACCOUNT"}},                  // a part of the name
		{"CUSTOMERACCOUNTNUMBER", []string{"CUSTOMERACCOUNT"}},                      // the name and more
		{"ADDRESS", []string{"ADDRESSDESCRIPTION", "ADDRESSSTREET", "ADDRESSCITY"}}, // at most three
		{"CUSTOMERNAME", nil},
		{"XY", nil}, // too short to be a part of anything
	} {
		assert.Equal(t, tc.want, validate.Suggest(tc.name, names), tc.name)
	}
	assert.Equal(t, []string{"Customers V3"}, validate.SuggestEntities(catalog.Default(), "customer v3"))
	assert.Equal(t, []string{"Customers V3"}, validate.SuggestEntities(catalog.Default(), "CustCustomerV3Entty"), "AOT names answer with the label")
	assert.Equal(t, []string{"General journal"}, validate.SuggestEntities(catalog.Default(), "journal"))
	assert.Equal(t, []string{"Sales order headers V2", "Sales order lines V2"}, validate.SuggestEntities(catalog.Default(), "sales order"))
	assert.Empty(t, validate.SuggestEntities(catalog.Default(), "Purchase orders"))

	assert.Equal(t, "", validate.DidYouMean(nil))
	assert.Equal(t, "; did you mean A?", validate.DidYouMean([]string{"A"}))
	assert.Equal(t, "; did you mean A, B or C?", validate.DidYouMean([]string{"A", "B", "C"}))
	assert.Equal(t, "CUSTOMERACOUNT is not a field of Customers V3; did you mean CUSTOMERACCOUNT?", validate.UnknownFieldProblem(cust, "CUSTOMERACOUNT"))
	assert.Equal(t, "NOPE is not a field of Customers V3 (`pipeline entities \"Customers V3\"` lists its fields)", validate.UnknownFieldProblem(cust, "NOPE"))
}

// A rule on a field the entity lacks names the closest fields; a rule on a field of the
// entity that the mapping leaves out says so.
func TestRuleOnUnknownField(t *testing.T) {
	t.Parallel()
	at := func(line int) config.Position { return config.Position{File: "c.yaml", Line: line} }
	rules := []*config.Rule{
		{Field: "CUSTOMERACOUNT", Required: true, Pos: at(3)},
		{Field: "PERSONLASTNAME", Required: true, Pos: at(4)},
	}
	_, err := validate.CompileRowRules(customers(rules), fields, catalog.Default())
	var ps config.Problems
	require.True(t, errors.As(err, &ps), "%v", err)
	require.Len(t, ps, 2)
	assert.Equal(t, "c.yaml:3: project p: validate: CUSTOMERACOUNT is not a field of Customers V3; did you mean CUSTOMERACCOUNT?", ps[0].String())
	assert.Equal(t, "c.yaml:4: project p: validate: field PERSONLASTNAME is not mapped", ps[1].String())
}
