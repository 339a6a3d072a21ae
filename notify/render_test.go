package notify_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/notify"
)

func TestCardMessage(t *testing.T) {
	t.Parallel()
	msg := notify.CardMessage(partialJob())
	raw, err := json.Marshal(msg)
	require.NoError(t, err)

	var got struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string  `json:"contentType"`
			ContentURL  *string `json:"contentUrl"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Facts []struct{ Title, Value string }
				} `json:"body"`
				Actions []struct {
					Type, Title, URL string
				} `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
		Dmfpipe struct {
			Project string `json:"project"`
			JobID   int64  `json:"job_id"`
			Status  string `json:"status"`
			Counts  struct {
				Read, Invalid, Imported, Rejected int64
			} `json:"counts"`
			Errors []struct {
				Line    int64  `json:"line"`
				Field   string `json:"field"`
				Rule    string `json:"rule"`
				Message string `json:"message"`
			} `json:"errors"`
			DurationSeconds float64 `json:"duration_seconds"`
			URL             string  `json:"url"`
		} `json:"dmfpipe"`
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	assert.Equal(t, "message", got.Type)
	require.Len(t, got.Attachments, 1)
	a := got.Attachments[0]
	assert.Equal(t, "application/vnd.microsoft.card.adaptive", a.ContentType)
	assert.Nil(t, a.ContentURL)
	assert.Equal(t, "AdaptiveCard", a.Content.Type)
	assert.Equal(t, "1.4", a.Content.Version)
	require.NotEmpty(t, a.Content.Body)
	assert.Equal(t, "[dmfpipe] customers-nightly: partially succeeded (7 rows invalid, 5 rejected by F&O)", a.Content.Body[0].Text)
	facts := map[string]string{}
	var texts []string
	for _, b := range a.Content.Body {
		for _, f := range b.Facts {
			facts[f.Title] = f.Value
		}
		texts = append(texts, b.Text)
	}
	assert.Equal(t, "200,000", facts["Rows read"])
	assert.Equal(t, "7", facts["Invalid"])
	assert.Equal(t, "5", facts["Rejected by F&O"])
	assert.Equal(t, "20", facts["Chunks"])
	assert.Equal(t, "3m12s", facts["Duration"])
	assert.Equal(t, "schedule", facts["Trigger"])
	assert.Contains(t, texts, `- line 12, column "Account No", field CUSTOMERACCOUNT: is required (required)`)
	assert.Contains(t, texts, "- line 977, field CUSTOMERACCOUNT: Customer group <Retail & Co> does not exist (fo)")
	assert.Contains(t, texts, "... and 9 more rows waiting in staging.")
	require.Len(t, a.Content.Actions, 1)
	assert.Equal(t, "Action.OpenUrl", a.Content.Actions[0].Type)
	assert.Equal(t, "https://dmf.example.com/jobs/42/errors", a.Content.Actions[0].URL)

	assert.Equal(t, "customers-nightly", got.Dmfpipe.Project)
	assert.EqualValues(t, 42, got.Dmfpipe.JobID)
	assert.Equal(t, "partially_succeeded", got.Dmfpipe.Status)
	assert.EqualValues(t, 200000, got.Dmfpipe.Counts.Read)
	assert.EqualValues(t, 5, got.Dmfpipe.Counts.Rejected)
	require.Len(t, got.Dmfpipe.Errors, 3)
	assert.Equal(t, "one_of", got.Dmfpipe.Errors[1].Rule)
	assert.InDelta(t, 192.4, got.Dmfpipe.DurationSeconds, 0.001)
	assert.Equal(t, "https://dmf.example.com/jobs/42/errors", got.Dmfpipe.URL)
}

func TestCardMessageWithoutConsole(t *testing.T) {
	t.Parallel()
	job := partialJob()
	job.ConsoleURL = ""
	job.Status, job.Error, job.Errors = notify.StatusFailed, "error rate 12% is over the limit of 5%", nil
	raw, err := json.Marshal(notify.CardMessage(job))
	require.NoError(t, err)
	s := string(raw)
	assert.NotContains(t, s, "actions")
	assert.NotContains(t, s, `"url"`)
	assert.Contains(t, s, "Error: error rate 12% is over the limit of 5%")
	assert.Contains(t, s, `"color":"Attention"`)
}

func TestCardMessageCountsRowsBeyondTheFirstErrors(t *testing.T) {
	t.Parallel()
	job := partialJob()
	job.Counts.Invalid, job.Counts.Rejected = 12000, 345
	raw, err := json.Marshal(notify.CardMessage(job))
	require.NoError(t, err)
	assert.Contains(t, string(raw), "... and 12,342 more rows waiting in staging.")
	assert.Contains(t, string(raw), `partially succeeded (12,000 rows invalid, 345 rejected by F\u0026O)`)
}
