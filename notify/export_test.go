package notify_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/notify"
)

// An export job's notification says what it wrote, not import counts.
func TestExportNotification(t *testing.T) {
	t.Parallel()
	job := notify.Job{Project: "customers-export", ID: 7, Trigger: "schedule", Status: notify.StatusSucceeded,
		Export: &notify.Export{Rows: 100000, Files: 3, Destination: "partner-sftp:out/2026-12-01"}}
	assert.Equal(t, "[dmfpipe] customers-export: succeeded (100,000 rows exported in 3 files)", job.Subject())
	job.Status = notify.StatusPartiallySucceeded
	assert.Equal(t, "[dmfpipe] customers-export: partially succeeded (100,000 rows exported in 3 files)", job.Subject())
	job.Status = notify.StatusFailed
	assert.Equal(t, "[dmfpipe] customers-export: failed", job.Subject())

	raw, err := json.Marshal(notify.CardMessage(job))
	require.NoError(t, err)
	text := string(raw)
	for _, want := range []string{`"Rows exported"`, `"100,000"`, `"Files"`, `"partner-sftp:out/2026-12-01"`} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "Imported", "no import counts on an export")

	job.Export.Messages = 4
	raw, err = json.Marshal(notify.CardMessage(job))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"Messages"`)
}
