package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exampleConfig = "../../examples/pipeline.yaml"

func TestPreviewExamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		project, file string
		want          []string
	}{
		{"customers-csv", "customers/customers_20261125.csv", []string{
			"Customers V3: 5 rows previewed, 0 with errors",
			"C-1001", "Café Müller GmbH", "12500.00", "Señora Núñez", "Person"}},
		{"vendors-xlsx", "vendors/vendors_20261125.xlsx", []string{"Vendors V2: 3 rows previewed, 0 with errors", "V-2001"}},
		{"products-json", "products/products_20261125.json", []string{"Released products V2: 4 rows previewed, 0 with errors", "D0001", "24.90"}},
	} {
		t.Run(tc.project, func(t *testing.T) {
			t.Parallel()
			out, code := runCLI(t, "preview", "-c", exampleConfig, tc.project, "--file", filepath.Join("../../examples/data/inbox", tc.file))
			assert.Equal(t, 0, code, out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

func TestPreviewJSONAndRowErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "customers_bad.csv")
	require.NoError(t, os.WriteFile(file, []byte("Account No;Name;Group;Type;City;Country;Credit limit\n"+
		"C-1;Alpha;Retail;O;Berlin;DE;1.000,00\n"+
		";Beta;Retail;O;Paris;FR;x\n"+
		"C-3;Gamma;Retail;O;Rome;IT;5\n"), 0o600))
	out, code := runCLI(t, "preview", "-c", exampleConfig, "customers-csv", "--file", file, "--limit", "2", "--json")
	assert.Equal(t, exitPartial, code, out)
	var res struct {
		Fields []string `json:"fields"`
		Rows   []struct {
			Row    int64             `json:"row"`
			Line   int64             `json:"line"`
			Values map[string]string `json:"values"`
			Errors []struct {
				Line   int64  `json:"line"`
				Column string `json:"column"`
				Field  string `json:"field"`
				Rule   string `json:"rule"`
			} `json:"errors"`
		} `json:"rows"`
		Errors int `json:"errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Equal(t, "CUSTOMERACCOUNT", res.Fields[0])
	require.Len(t, res.Rows, 2)
	assert.Equal(t, 1, res.Errors)
	assert.Equal(t, "1000.00", res.Rows[0].Values["CREDITLIMIT"])
	assert.Empty(t, res.Rows[0].Errors)
	assert.Equal(t, int64(3), res.Rows[1].Line)
	var got []string
	for _, e := range res.Rows[1].Errors {
		got = append(got, e.Column+"/"+e.Field+"/"+e.Rule)
	}
	assert.ElementsMatch(t, []string{"Credit limit/CREDITLIMIT/map.number", "Account No/CUSTOMERACCOUNT/required"}, got)

	out, code = runCLI(t, "preview", "-c", exampleConfig, "customers-csv", "--file", file)
	assert.Equal(t, exitPartial, code)
	assert.Contains(t, out, `customers_bad.csv:3: Account No/CUSTOMERACCOUNT: a value is required (required)`)
	assert.Contains(t, out, `customers_bad.csv:3: Credit limit/CREDITLIMIT: "x" is not a number`)
}

func TestPreviewUsageErrors(t *testing.T) {
	t.Parallel()
	wrongHeader := filepath.Join(t.TempDir(), "other.csv")
	require.NoError(t, os.WriteFile(wrongHeader, []byte("Konto;Name\n1;a\n"), 0o600))
	for name, args := range map[string][]string{
		"no file":        {"customers-csv"},
		"no project":     {"--file", wrongHeader},
		"unknown":        {"nope", "--file", wrongHeader},
		"export project": {"open-orders-export", "--file", wrongHeader},
		"missing file":   {"customers-csv", "--file", wrongHeader + ".gone"},
		"bad limit":      {"customers-csv", "--file", wrongHeader, "--limit", "0"},
	} {
		out, code := runCLI(t, append([]string{"preview", "-c", exampleConfig}, args...)...)
		assert.Equal(t, exitUsage, code, "%s: %s", name, out)
	}
	out, code := runCLI(t, "preview", "-c", exampleConfig, "customers-csv", "--file", wrongHeader)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, `column "Account No" is not in the file (header: Konto, Name)`)
	assert.Equal(t, 1, strings.Count(out, `"Group"`), out)
}
