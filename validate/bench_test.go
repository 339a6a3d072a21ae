package validate_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/validate"
)

// BenchmarkCheck checks valid rows against catalog types and lengths plus configured rules.
func BenchmarkCheck(b *testing.B) {
	rules := []*config.Rule{
		{Field: "CUSTOMERACCOUNT", Required: true, MaxLength: 20, Pattern: "C-[0-9]+"},
		{Field: "CUSTOMERGROUPID", OneOf: []string{"10", "20", "30"}},
		{Field: "CREDITLIMIT", Min: ptr("0"), Max: ptr("1000000")},
	}
	rr, err := validate.CompileRowRules(customers(rules), fields, catalog.Default())
	require.NoError(b, err)
	row := []string{"C-1001", "Organization", "Contoso", "10", "EUR", "12500.00"}
	var errs []validate.Error
	b.ReportAllocs()
	for b.Loop() {
		errs = rr.Check(row, 1, 2, errs[:0])
		if len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
