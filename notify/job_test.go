package notify_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dmfpipe/dmfpipe/notify"
)

func TestShouldNotify(t *testing.T) {
	t.Parallel()
	all := []notify.Status{notify.StatusSucceeded, notify.StatusPartiallySucceeded, notify.StatusFailed, notify.StatusSkipped}
	cases := []struct {
		on   []string
		want []notify.Status
	}{
		{nil, []notify.Status{notify.StatusPartiallySucceeded, notify.StatusFailed}},
		{[]string{}, []notify.Status{notify.StatusPartiallySucceeded, notify.StatusFailed}},
		{[]string{"failure"}, []notify.Status{notify.StatusFailed}},
		{[]string{"partial"}, []notify.Status{notify.StatusPartiallySucceeded}},
		{[]string{"success"}, []notify.Status{notify.StatusSucceeded, notify.StatusSkipped}},
		{[]string{"failure", "partial", "success"}, all},
	}
	for _, c := range cases {
		for _, s := range all {
			assert.Equal(t, slices.Contains(c.want, s), notify.ShouldNotify(c.on, s), "on %v, status %s", c.on, s)
		}
	}
	assert.False(t, notify.ShouldNotify([]string{"failure", "partial", "success"}, "running"), "an unknown status")
}

func TestSubject(t *testing.T) {
	t.Parallel()
	job := partialJob()
	assert.Equal(t, "[dmfpipe] customers-nightly: partially succeeded (7 rows invalid, 5 rejected by F&O)", job.Subject())
	job.Counts.Rejected = 0
	assert.Equal(t, "[dmfpipe] customers-nightly: partially succeeded (7 rows invalid)", job.Subject(), "none rejected")
	job.Counts.Invalid, job.Counts.Rejected = 0, 1
	assert.Equal(t, "[dmfpipe] customers-nightly: partially succeeded (1 row rejected by F&O)", job.Subject())

	job.Status, job.Counts = notify.StatusSucceeded, notify.Counts{Read: 1234567, Imported: 1234567}
	assert.Equal(t, "[dmfpipe] customers-nightly: succeeded (1,234,567 rows imported)", job.Subject())

	job.Counts.Imported = 1
	assert.Equal(t, "[dmfpipe] customers-nightly: succeeded (1 row imported)", job.Subject())

	job.Status = notify.StatusFailed
	assert.Equal(t, "[dmfpipe] customers-nightly: failed", job.Subject())

	job.Status = notify.StatusSkipped
	assert.Equal(t, "[dmfpipe] customers-nightly: skipped", job.Subject())
}

func TestLink(t *testing.T) {
	t.Parallel()
	job := partialJob()
	assert.Equal(t, "https://dmf.example.com/jobs/42/errors", job.Link(), "trailing slash of the base URL")
	job.ConsoleURL = "https://dmf.example.com/console"
	assert.Equal(t, "https://dmf.example.com/console/jobs/42/errors", job.Link())
	job.Counts.Invalid, job.Counts.Rejected = 0, 0
	assert.Equal(t, "https://dmf.example.com/console/jobs/42", job.Link(), "no row waits: the job's page")
	job.ConsoleURL = ""
	assert.Empty(t, job.Link())
}
