package pathtemplate_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/exports/pathtemplate"
)

var vars = pathtemplate.Vars{Date: "2026-12-01", Time: "143005", Project: "open-orders", Entity: "Sales order headers V2",
	Execution: "open-orders-12-x-1-ab12cd34", Company: "USMF", Part: 7}

func TestRender(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ tmpl, want string }{
		{"orders/{date}/orders-{time}.xlsx", "orders/2026-12-01/orders-143005.xlsx"},
		{"{project}/{company}/{entity}_{part}.csv", "open-orders/USMF/Sales order headers V2_7.csv"},
		{"/out/{entity}-{part:3}.csv.gz", "out/Sales order headers V2-007.csv.gz"},
		{"x/{execution}.ndjson", "x/open-orders-12-x-1-ab12cd34.ndjson"},
		{"./a//b/./c.json", "a/b/c.json"},
		{"{part:1}.csv", "7.csv"},
	} {
		got, err := pathtemplate.MustParse(tc.tmpl).Render(vars)
		require.NoError(t, err, tc.tmpl)
		assert.Equal(t, tc.want, got, tc.tmpl)
	}
	// Values never add folders or characters servers refuse.
	v := vars
	v.Entity, v.Execution = "A/B\\C:D*E?F\"G<H>I|J\x01", "grp-2025-12-30T07:21:25-68AB"
	got, err := pathtemplate.MustParse("{entity}/{execution}.csv").Render(v)
	require.NoError(t, err)
	assert.Equal(t, "A_B_C_D_E_F_G_H_I_J_/grp-2025-12-30T07_21_25-68AB.csv", got)
	v.Entity = ".."
	got, err = pathtemplate.MustParse("{entity}/x.csv").Render(v)
	require.NoError(t, err)
	assert.Equal(t, "_/x.csv", got)
	v.Entity = ""
	got, err = pathtemplate.MustParse("e-{entity}.csv").Render(v)
	require.NoError(t, err)
	assert.Equal(t, "e-_.csv", got)
	_, err = pathtemplate.MustParse("out/").Render(vars)
	assert.Error(t, err, "a folder is not a file name")
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for tmpl, msg := range map[string]string{
		"":                   "empty",
		"a/{dat}.csv":        "unknown placeholder {dat}",
		"a/{date.csv":        "'{' without '}'",
		"a/date}.csv":        "'}' without '{'",
		"{time:3}.csv":       "only {part:N} takes a width",
		"{part:0}.csv":       "N from 1 to 9",
		"{part:x}.csv":       "N from 1 to 9",
		"../{date}.csv":      `".." is not allowed`,
		"a/../../{date}.csv": `".." is not allowed`,
	} {
		_, err := pathtemplate.Parse(tmpl)
		if assert.Error(t, err, tmpl) {
			assert.Contains(t, err.Error(), msg, tmpl)
		}
	}
}

func TestHasAndDir(t *testing.T) {
	t.Parallel()
	tmpl := pathtemplate.MustParse("out/{entity}/{date}/x-{part}.csv")
	assert.True(t, tmpl.Has(pathtemplate.Part))
	assert.False(t, tmpl.Has(pathtemplate.Time))
	assert.True(t, tmpl.DirHas(pathtemplate.Entity))
	assert.True(t, tmpl.DirHas(pathtemplate.Date))
	assert.False(t, tmpl.DirHas(pathtemplate.Part))
	assert.Equal(t, "out/{entity}/{date}", tmpl.Dir())
	assert.Equal(t, "", pathtemplate.MustParse("{entity}.csv").Dir())
	assert.False(t, pathtemplate.MustParse("{entity}.csv").DirHas(pathtemplate.Entity))
}
