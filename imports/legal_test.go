package imports

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

func TestLegalEntity(t *testing.T) {
	t.Parallel()
	project := func(path, pat, le string) *Project {
		return &Project{
			Project: &config.Project{Name: "p", Source: &config.Source{Path: path, Pattern: pat}, Target: &config.Target{LegalEntity: le}},
			Pattern: pattern.MustParse(pat),
		}
	}
	for _, tc := range []struct {
		name    string
		p       *Project
		file    string
		local   bool
		want    string
		wantErr string
	}{
		{name: "fixed legal entity", p: project("in", "*.csv", "USMF"), file: "in/a.csv", want: "USMF"},
		{name: "from the name", p: project("in", "customers_{company}_*.csv", ""), file: "in/customers_dat_2026.csv", want: "DAT"},
		{name: "shortest capture", p: project("in", "customers_{company}_*.csv", ""), file: "in/customers_US_MF_2026.csv", want: "US"},
		{name: "in a sub-folder", p: project("/out", "{company}/orders_*.csv", ""), file: "out/usmf/orders_1.csv", want: "USMF"},
		{name: "a listed name that does not fit", p: project("in", "customers_{company}_*.csv", ""), file: "in/vendors.csv",
			wantErr: `in/vendors.csv does not fit source.pattern "customers_{company}_*.csv"`},
		{name: "no company and no legal entity", p: project("in", "*.csv", ""), file: "in/a.csv",
			wantErr: "no target.legal_entity and no {company} capture"},
		{name: "run --file takes the company from the file's name", p: project("in", "customers_{company}_*.csv", ""),
			file: "home/ops/downloads/customers_usmf_1.csv", local: true, want: "USMF"},
		{name: "run --file of a file the pattern refuses", p: project("in", "customers_{company}_*.csv", "USMF"),
			file: "home/ops/orders.csv", local: true, wantErr: "does not fit source.pattern"},
		{name: "run --file with a fixed legal entity", p: project("in", "*.csv", "USMF"), file: "tmp/a.csv", local: true, want: "USMF"},
		{name: "run --file deeper than the pattern", p: project("in", "{company}/*.csv", ""), file: "srv/drop/dat/a.csv", local: true, want: "DAT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LegalEntity(tc.p, tc.file, tc.local)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrNoLegalEntity)
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
