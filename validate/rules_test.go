package validate_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/validate"
)

func ptr(s string) *string { return &s }

func customers(rules []*config.Rule, refs ...*config.Reference) *config.Project {
	return &config.Project{
		Name:       "p",
		Target:     &config.Target{Entity: "Customers V3"},
		Validate:   rules,
		References: refs,
	}
}

var fields = []string{"CUSTOMERACCOUNT", "PARTYTYPE", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE", "CREDITLIMIT"}

func TestCheckCatalogDefaults(t *testing.T) {
	t.Parallel()
	rr, err := validate.CompileRowRules(customers(nil), fields, catalog.Default())
	require.NoError(t, err)
	errs := rr.Check([]string{"", "Robot", "", "10", "EURO", "1,5"}, 7, 9, nil)
	type got struct {
		field string
		rule  validate.Rule
	}
	var gots []got
	for _, e := range errs {
		assert.Equal(t, int64(7), e.Row)
		assert.Equal(t, int64(9), e.Line)
		gots = append(gots, got{e.Field, e.Rule})
	}
	assert.Equal(t, []got{
		{"CUSTOMERACCOUNT", validate.RuleRequired},
		{"PARTYTYPE", validate.RuleType},
		{"SALESCURRENCYCODE", validate.RuleMaxLength},
		{"CREDITLIMIT", validate.RuleType},
	}, gots)
	// PARTYTYPE empty takes the catalog default Organization, which needs ORGANIZATIONNAME.
	errs = rr.Check([]string{"C1", "", "", "10", "EUR", "1.5"}, 1, 2, nil)
	require.Len(t, errs, 1)
	assert.Equal(t, "ORGANIZATIONNAME", errs[0].Field)
	assert.Equal(t, "required when PARTYTYPE is Organization", errs[0].Msg)
	assert.Empty(t, rr.Check([]string{"C1", "organization", "Org", "10", "EUR", "-1.5"}, 1, 2, nil))
}

func TestCheckConfiguredRules(t *testing.T) {
	t.Parallel()
	rules := []*config.Rule{
		{Field: "CustomerAccount", MaxLength: 4, Pattern: "[A-Z][0-9]+"},
		{Field: "CREDITLIMIT", Min: ptr("-10"), Max: ptr("1000.5")},
		{Field: "CUSTOMERGROUPID", OneOf: []string{"10", "20"}},
		{Field: "CREDITLIMIT", Required: true, When: `CUSTOMERGROUPID == "20" && row.SALESCURRENCYCODE != "USD"`},
	}
	rr, err := validate.CompileRowRules(customers(rules), fields, catalog.Default())
	require.NoError(t, err)
	check := func(row ...string) []string {
		var out []string
		for _, e := range rr.Check(row, 1, 2, nil) {
			out = append(out, e.Field+" "+string(e.Rule)+": "+e.Msg)
		}
		return out
	}
	assert.Empty(t, check("C1", "Organization", "Org", "10", "USD", "1000.50"))
	assert.Empty(t, check("C1", "Organization", "Org", "20", "USD", ""))
	assert.Equal(t, []string{
		`CUSTOMERACCOUNT max_length: "c12345" is too long: 6 characters, at most 4 allowed (limit from the rule)`,
		`CUSTOMERACCOUNT pattern: "c12345" does not match [A-Z][0-9]+`,
		`CREDITLIMIT required: a value is required`,
	}, check("c12345", "Organization", "Org", "20", "EUR", ""))
	assert.Equal(t, []string{
		`CUSTOMERGROUPID one_of: "30" is not one of 10, 20`,
		`CREDITLIMIT min: -10.01 is below the minimum -10`,
	}, check("C1", "Organization", "Org", "30", "EUR", "-10.01"))
	assert.Equal(t, []string{`CREDITLIMIT max: 1000.51 is above the maximum 1000.5`},
		check("C1", "Organization", "Org", "10", "EUR", "1000.51"))
	// A field whose mapping already failed on this row is not checked again.
	prior := []validate.Error{{Row: 1, Field: "CUSTOMERGROUPID", Rule: "map.unmapped"}}
	assert.Len(t, rr.Check([]string{"C1", "Organization", "Org", "30", "EUR", "1"}, 1, 2, prior), 1)
}

// A field with only required and a length limit is passed inline when its value is
// present and short in bytes; the others go the general way.
func TestCheckPlainField(t *testing.T) {
	t.Parallel()
	rr, err := validate.CompileRowRules(customers([]*config.Rule{{Field: "ORGANIZATIONNAME", Required: true, MaxLength: 3}}),
		fields, catalog.Default())
	require.NoError(t, err)
	check := func(name string) []string {
		var out []string
		for _, e := range rr.Check([]string{"C1", "Organization", name, "10", "EUR", "1"}, 1, 2, nil) {
			out = append(out, string(e.Rule)+": "+e.Msg)
		}
		return out
	}
	assert.Empty(t, check("Org"))
	assert.Empty(t, check("äöü"), "6 bytes, 3 characters")
	assert.Equal(t, []string{`max_length: "äöüß" is too long: 4 characters, at most 3 allowed (limit from the rule)`}, check("äöüß"))
	assert.Equal(t, []string{"required: a value is required", "required: required when PARTYTYPE is Organization"}, check(""),
		"the rule's and the catalog's")
}

func TestSetRuleSpecs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	csvFile := filepath.Join(dir, "groups.csv")
	require.NoError(t, os.WriteFile(csvFile, []byte("10,Retail\n\"20\",Wholesale\n\n"), 0o600))
	txtFile := filepath.Join(dir, "currencies.txt")
	require.NoError(t, os.WriteFile(txtFile, []byte("EUR\r\n USD \n\n"), 0o600))
	rules := []*config.Rule{
		{Field: "CUSTOMERACCOUNT", Unique: true},
		{Field: "CUSTOMERGROUPID", Lookup: "groups"},
		{Field: "SALESCURRENCYCODE", Lookup: "currencies"},
		{Field: "PARTYTYPE", Lookup: "types"},
	}
	rr, err := validate.CompileRowRules(customers(rules,
		&config.Reference{Name: "groups", File: csvFile},
		&config.Reference{Name: "currencies", File: txtFile},
		&config.Reference{Name: "types", Values: []string{"Person"}},
	), fields, catalog.Default())
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"CUSTOMERACCOUNT"}}, rr.UniqueFields())
	assert.Equal(t, []validate.LookupSpec{
		{Field: "CUSTOMERGROUPID", Reference: "groups", Values: []string{"10", "20"}},
		{Field: "SALESCURRENCYCODE", Reference: "currencies", Values: []string{"EUR", "USD"}},
		{Field: "PARTYTYPE", Reference: "types", Values: []string{"Person"}},
	}, rr.Lookups())
}

func TestCompileRowRulesProblems(t *testing.T) {
	t.Parallel()
	at := func(line int) config.Position { return config.Position{File: "p.yaml", Line: line} }
	rules := []*config.Rule{
		{Field: "PERSONLASTNAME", Required: true, Pos: at(3)},
		{Field: "CREDITLIMIT", Min: ptr("ten"), Pos: at(4)},
		{Field: "ORGANIZATIONNAME", Type: "enum", Pos: at(5)},
		{Field: "ORGANIZATIONNAME", When: "row.X ==", Pos: at(6)},
		{Field: "CUSTOMERGROUPID", Lookup: "missing-file", Pos: at(7)},
	}
	_, err := validate.CompileRowRules(customers(rules, &config.Reference{Name: "missing-file", File: filepath.Join(t.TempDir(), "nope.txt")}), fields, catalog.Default())
	var ps config.Problems
	require.True(t, errors.As(err, &ps), "%v", err)
	var lines []int
	for _, p := range ps {
		lines = append(lines, p.Line)
	}
	assert.Equal(t, []int{3, 4, 5, 6, 7}, lines)
	assert.Contains(t, ps[0].Msg, "PERSONLASTNAME is not mapped")
	assert.Contains(t, ps[1].Msg, `"ten" is not a decimal number`)
	assert.Contains(t, ps[2].Msg, "type enum needs an enum field")
	assert.Contains(t, ps[4].Msg, "reading reference file")
}

func TestCompareDecimal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1", "1.0", 0}, {"-0", "0.00", 0}, {"10", "9.99", 1}, {"-10", "-9.99", -1},
		{"0010.5", "10.50", 0}, {"1.05", "1.5", -1}, {"-1", "1", -1}, {"+2", "2", 0},
		{"123456789012345678901234567890", "123456789012345678901234567889.9", 1},
	} {
		assert.Equal(t, tc.want, validate.CompareDecimal(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
	}
}

func TestTypeProblem(t *testing.T) {
	t.Parallel()
	ok := map[catalog.FieldType][]string{
		catalog.TypeInt:      {"0", "-12", "+7"},
		catalog.TypeDecimal:  {"1", "-1.5", "0.000", "1234567890.12"},
		catalog.TypeDate:     {"2026-02-28"},
		catalog.TypeDateTime: {"2026-02-28T10:00:00Z", "2026-02-28T10:00:00"},
		catalog.TypeEnum:     {"yes", "No"},
	}
	bad := map[catalog.FieldType][]string{
		catalog.TypeInt:      {"1.0", "x", "-"},
		catalog.TypeDecimal:  {"1,5", "1.", ".5", "1e3", "1.2.3", "--1"},
		catalog.TypeDate:     {"2026-02-29", "28.02.2026"},
		catalog.TypeDateTime: {"2026-02-28 10:00"},
		catalog.TypeEnum:     {"maybe"},
	}
	enum := []string{"No", "Yes"}
	for typ, vs := range ok {
		for _, v := range vs {
			assert.Empty(t, validate.TypeProblem(typ, enum, v), "%s %q", typ, v)
		}
	}
	for typ, vs := range bad {
		for _, v := range vs {
			assert.NotEmpty(t, validate.TypeProblem(typ, enum, v), "%s %q", typ, v)
		}
	}
	assert.Empty(t, validate.LengthProblem(3, "äöü"))
	assert.NotEmpty(t, validate.LengthProblem(2, "äöü"))
}

func TestCheckConcurrentWhen(t *testing.T) {
	t.Parallel()
	rules := []*config.Rule{{Field: "CREDITLIMIT", Required: true, When: `CUSTOMERGROUPID == "20"`}}
	rr, err := validate.CompileRowRules(customers(rules), fields, catalog.Default())
	require.NoError(t, err)
	done := make(chan int)
	for g := range 4 {
		go func() {
			n := 0
			for i := range 200 {
				group := []string{"10", "20"}[(i+g)%2]
				n += len(rr.Check([]string{"C1", "Organization", "Org", group, "EUR", ""}, 1, 2, nil))
			}
			done <- n
		}()
	}
	for range 4 {
		assert.Equal(t, 100, <-done)
	}
}
