package imports

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

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
