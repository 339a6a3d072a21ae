package mapping_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/validate"
)

const benchProject = `    format: { type: csv }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT:        { from: "Account No", transforms: [trim, upper] }
      ORGANIZATIONNAME:       { from: Name, transforms: [trim] }
      CUSTOMERGROUPID:        { from: Group, map: { Retail: "10", Wholesale: "20" }, default: "30" }
      SALESCURRENCYCODE:      { from: Currency, transforms: [trim, upper] }
      PARTYTYPE:              { from: Type, map: { O: Organization, P: Person } }
      ADDRESSCITY:            { from: City, transforms: [trim] }
      ADDRESSCOUNTRYREGIONID: { from: Country, transforms: [trim, upper] }
      CREDITLIMIT:            { from: "Credit limit", transforms: [{ number: { decimal: ",", thousands: "." } }] }
      PAYMENTTERMS:           { from: Terms, transforms: [upper] }
      LANGUAGEID:             { from: Language, default: en-us }
`

// compileProject compiles the mapping of project, the rest of a golden project.
func compileProject(t testing.TB, project string) *mapping.Mapping {
	t.Helper()
	file := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(file, []byte(prelude+project), 0o600))
	cfg, err := config.Load(file)
	require.NoError(t, err)
	m, err := mapping.Compile(cfg.Projects[0], catalog.Default())
	require.NoError(t, err)
	return m
}

// BenchmarkApply maps 10-field records: trim, upper, map and number transforms.
func BenchmarkApply(b *testing.B) {
	bound, err := compileProject(b, benchProject).Bind([]string{"Account No", "Name", "Group", "Currency", "Type", "City", "Country", "Credit limit", "Terms", "Language"})
	require.NoError(b, err)
	recs := []reader.Record{
		{Values: []string{" c-1001 ", "Café Müller GmbH", "Retail", "eur", "O", "München", "de", "12.500,00", "net30", ""}},
		{Values: []string{"C-1002", "Hôtel Étoile SARL ", "Wholesale", "EUR", "O", "Besançon", "FR", "50.000,00", "NET30", "fr"}},
		{Values: []string{"C-1003", "Ørsted Consulting", "", "DKK", "P", " Århus", "dk ", "0", "", ""}},
	}
	var row []string
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var errs []validate.Error
		row, errs = bound.Apply(recs[i%len(recs)], int64(i+1), row)
		if len(errs) > 0 {
			b.Fatal(errs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestApplyAllocatesOnlyNewStrings: a row whose values need no new string (trim, map,
// const, default, already-upper text, invariant numbers) maps without allocating.
func TestApplyAllocatesOnlyNewStrings(t *testing.T) {
	bound, err := compileProject(t, benchProject).Bind([]string{"Account No", "Name", "Group", "Currency", "Type", "City", "Country", "Credit limit", "Terms", "Language"})
	require.NoError(t, err)
	rec := reader.Record{Values: []string{" C-1001 ", "Contoso ", "Retail", "EUR", "O", "Berlin", "DE", "0", "NET30", ""}}
	row := make([]string, 0, 10)
	allocs := testing.AllocsPerRun(100, func() {
		var errs []validate.Error
		row, errs = bound.Apply(rec, 1, row)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
	})
	assert.Equal(t, []string{"C-1001", "Contoso", "10", "EUR", "Organization", "Berlin", "DE", "0", "NET30", "en-us"}, row)
	assert.Zero(t, allocs)
}
