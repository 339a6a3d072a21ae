package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
)

func TestSourcePattern(t *testing.T) {
	t.Parallel()
	const from = `pattern: "customers_*.csv" }`
	for _, tc := range []struct {
		name, to string
		want     []string // problems after FILE:
	}{
		{"capture and a glob", `pattern: "customers_{company}_*.csv" }`, nil},
		{"other captures", `pattern: "{region}/customers_{company}_{date}.csv" }`, nil},
		{"class and escape", `pattern: 'customers_[0-9]\*.csv' }`, nil},
		{"double star", `pattern: "**/*.csv" }`, []string{
			`18: project customers: source.pattern: pattern "**/*.csv", column 2: ** is not supported: use one * per folder level`}},
		{"unterminated class", `pattern: "customers_[0-9.csv" }`, []string{
			`18: project customers: source.pattern: pattern "customers_[0-9.csv", column 11: unterminated class: [ has no closing ]`}},
		{"empty capture", `pattern: "customers_{}.csv" }`, []string{
			`18: project customers: source.pattern: pattern "customers_{}.csv", column 11: empty capture {}: name it, e.g. {company} (write \{} for a literal {})`}},
		{"capture next to a star", `pattern: "customers_{company}*.csv" }`, []string{
			`18: project customers: source.pattern: pattern "customers_{company}*.csv", column 20: * right after {company} is ambiguous: put a literal between them, e.g. {company}_*`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			content := strings.Replace(validConfig, from, tc.to, 1)
			// Without target.legal_entity the company must come from the pattern.
			content = strings.Replace(content, "legal_entity: USMF, ", "", 1)
			if !strings.Contains(tc.to, "{company}") {
				content = strings.Replace(content, "definition_group: CUST }", "definition_group: CUST, legal_entity: USMF }", 1)
			}
			dir := writeConfig(t, map[string]string{"c.yaml": content})
			file := filepath.Join(dir, "c.yaml")
			cfg, err := config.Loader{LookupEnv: noEnv}.Load(file)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, strings.Trim(strings.TrimPrefix(tc.to, "pattern: "), `'" }`), cfg.Projects[0].Source.Pattern)
				return
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, file+":"+w)
			}
			assert.Equal(t, want, problemsOf(t, err), "one problem, at the pattern's line")
		})
	}
}

func TestLegalEntityNeedsACompanyCapture(t *testing.T) {
	t.Parallel()
	for _, pat := range []string{`'customers_\{company}_*.csv'`, `"customers_{region}_*.csv"`, `"customers_*.csv"`} {
		content := strings.Replace(validConfig, `pattern: "customers_*.csv"`, "pattern: "+pat, 1)
		content = strings.Replace(content, "legal_entity: USMF, ", "", 1)
		dir := writeConfig(t, map[string]string{"c.yaml": content})
		file := filepath.Join(dir, "c.yaml")
		_, err := config.Loader{LookupEnv: noEnv}.Load(file)
		assert.Equal(t, []string{file + ":20: project customers: target.legal_entity is required (or capture {company} in source.pattern)"},
			problemsOf(t, err), pat)
	}
}
