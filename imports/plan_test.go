package imports

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

func TestPlanChunks(t *testing.T) {
	t.Parallel()
	three := []staging.RowRange{{First: 1, Last: 10, Count: 10}, {First: 11, Last: 25, Count: 10}, {First: 26, Last: 27, Count: 2}}
	for _, tc := range []struct {
		name         string
		ranges       []staging.RowRange
		lanes, first int
		want         []jobhistory.Chunk
	}{
		{name: "nothing to upload", ranges: nil, lanes: 2, first: 1, want: []jobhistory.Chunk{}},
		{name: "one lane", ranges: three, lanes: 1, first: 1, want: []jobhistory.Chunk{
			{JobID: 7, No: 1, Lane: 1, FirstRow: 1, LastRow: 10, RowCount: 10},
			{JobID: 7, No: 2, Lane: 1, FirstRow: 11, LastRow: 25, RowCount: 10},
			{JobID: 7, No: 3, Lane: 1, FirstRow: 26, LastRow: 27, RowCount: 2},
		}},
		{name: "lanes take turns", ranges: three, lanes: 2, first: 1, want: []jobhistory.Chunk{
			{JobID: 7, No: 1, Lane: 1, FirstRow: 1, LastRow: 10, RowCount: 10},
			{JobID: 7, No: 2, Lane: 2, FirstRow: 11, LastRow: 25, RowCount: 10},
			{JobID: 7, No: 3, Lane: 1, FirstRow: 26, LastRow: 27, RowCount: 2},
		}},
		{name: "more lanes than chunks", ranges: three[:1], lanes: 4, first: 1, want: []jobhistory.Chunk{
			{JobID: 7, No: 1, Lane: 1, FirstRow: 1, LastRow: 10, RowCount: 10},
		}},
		{name: "numbering goes on after earlier chunks", ranges: three[1:], lanes: 2, first: 5, want: []jobhistory.Chunk{
			{JobID: 7, No: 5, Lane: 1, FirstRow: 11, LastRow: 25, RowCount: 10},
			{JobID: 7, No: 6, Lane: 2, FirstRow: 26, LastRow: 27, RowCount: 2},
		}},
		{name: "zero lanes is one", ranges: three[:2], lanes: 0, first: 1, want: []jobhistory.Chunk{
			{JobID: 7, No: 1, Lane: 1, FirstRow: 1, LastRow: 10, RowCount: 10},
			{JobID: 7, No: 2, Lane: 1, FirstRow: 11, LastRow: 25, RowCount: 10},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, PlanChunks(7, tc.ranges, tc.lanes, tc.first))
		})
	}
}

func TestDefinitionGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		group       string
		lanes, lane int
		want        string
	}{
		{group: "CUST", lanes: 1, lane: 1, want: "CUST"},
		{group: "CUST", lanes: 0, lane: 1, want: "CUST"},
		{group: "CUST", lanes: 3, lane: 2, want: "CUST-L2"},
		{group: "", lanes: 1, lane: 1, want: "customers"},
		{group: "", lanes: 2, lane: 1, want: "customers-L1"},
	} {
		p := &config.Project{Name: "customers", Target: &config.Target{DefinitionGroup: tc.group, Lanes: tc.lanes}}
		assert.Equal(t, tc.want, DefinitionGroup(p, tc.lane), "%+v", tc)
	}
}

func TestExecutionID(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "customers-12-3-1-9f3a07c2", ExecutionID("customers", 12, "9f3a07c2", 3, 1))
	assert.Equal(t, "customers-12-3-2", ExecutionID("customers", 12, "", 3, 2), "jobs from before the nonce keep their ids")
	assert.NotEqual(t, ExecutionID("customers", 12, "aaaa0000", 3, 1), ExecutionID("customers", 12, "bbbb1111", 3, 1),
		"two databases numbering a job 12 never share an execution id")
}

func TestJobOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		counts staging.Counts
		err    string
		want   string
	}{
		{name: "every row imported", counts: staging.Counts{Total: 10, Imported: 10}, want: jobhistory.JobSucceeded},
		{name: "no rows at all", counts: staging.Counts{}, want: jobhistory.JobSucceeded},
		{name: "imported, the rest set aside by an operator", counts: staging.Counts{Total: 10, Imported: 8, Skipped: 2},
			want: jobhistory.JobSucceeded},
		{name: "invalid rows wait", counts: staging.Counts{Total: 10, Imported: 8, Invalid: 2}, want: jobhistory.JobPartiallySucceeded},
		{name: "F&O rejected some", counts: staging.Counts{Total: 10, Imported: 9, Rejected: 1}, want: jobhistory.JobPartiallySucceeded},
		{name: "a chunk failed", counts: staging.Counts{Total: 10, Imported: 5, Rejected: 5}, want: jobhistory.JobPartiallySucceeded},
		{name: "fixed rows not yet sent again", counts: staging.Counts{Total: 10, Imported: 9, Fixed: 1}, want: jobhistory.JobPartiallySucceeded},
		{name: "rows with no verdict are not a success", counts: staging.Counts{Total: 10, Imported: 9, Uploaded: 1},
			want: jobhistory.JobPartiallySucceeded},
		{name: "every row invalid", counts: staging.Counts{Total: 3, Invalid: 3}, want: jobhistory.JobFailed},
		{name: "every chunk failed", counts: staging.Counts{Total: 10, Rejected: 10}, err: "401", want: jobhistory.JobFailed},
		{name: "an error and nothing imported", counts: staging.Counts{Total: 10, Valid: 10}, err: "too many invalid",
			want: jobhistory.JobFailed},
		{name: "an error after some were imported", counts: staging.Counts{Total: 10, Imported: 4, Rejected: 6}, err: "401",
			want: jobhistory.JobPartiallySucceeded},
		{name: "an error with every row imported", counts: staging.Counts{Total: 2, Imported: 2}, err: "late",
			want: jobhistory.JobPartiallySucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, JobOutcome(tc.counts, tc.err))
		})
	}
}

func TestJobCountsAccountForEveryRow(t *testing.T) {
	t.Parallel()
	c := staging.Counts{Total: 200, Invalid: 10, Imported: 140, Rejected: 50}
	got := JobCounts(205, c, 30)
	assert.Equal(t, jobhistory.JobCounts{Read: 205, Staged: 200, Invalid: 10, Uploaded: 160, Imported: 140, Rejected: 20, NotImported: 30}, got)
	assert.Equal(t, got.Staged, got.Invalid+got.Imported+got.Rejected+got.NotImported)
}

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
