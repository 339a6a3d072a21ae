package exports_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/exports/pathtemplate"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

func TestPackageURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                       "",
		"''":                                     "",
		`""`:                                     "",
		"  ":                                     "",
		"00000000-0000-0000-0000-000000000000":   "",
		"{00000000-0000-0000-0000-000000000000}": "",
		"https://x.blob.core.windows.net/dmf/a?s": "https://x.blob.core.windows.net/dmf/a?s",
		" 'https://x/dmf/b?sig=1' ":               "https://x/dmf/b?sig=1",
	} {
		got, ok := exports.PackageURL(in)
		assert.Equal(t, want, got, "%q", in)
		assert.Equal(t, want != "", ok, "%q", in)
	}
}

func TestExportOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		st        dmf.ExecutionStatus
		onPartial string
		want      exports.Outcome
	}{
		{dmf.StatusSucceeded, config.OnPartialDeliver, exports.Deliver},
		{dmf.StatusSucceeded, config.OnPartialFail, exports.Deliver},
		{dmf.StatusPartiallySucceeded, config.OnPartialDeliver, exports.DeliverPartial},
		{dmf.StatusPartiallySucceeded, config.OnPartialFail, exports.Fail},
		{dmf.StatusFailed, config.OnPartialDeliver, exports.Fail},
		{dmf.StatusCanceled, config.OnPartialDeliver, exports.Fail},
		{dmf.StatusUnknown, config.OnPartialDeliver, exports.Fail},
	} {
		assert.Equal(t, tc.want, exports.ExportOutcome(tc.st, tc.onPartial), "%s %s", tc.st, tc.onPartial)
	}
}

func TestPending(t *testing.T) {
	t.Parallel()
	notFound := &dmf.HTTPError{StatusCode: 400, Message: "Execution details for execution ID 'x' were not found."}
	assert.True(t, exports.Pending("", notFound, time.Second))
	assert.True(t, exports.Pending(dmf.StatusUnknown, nil, time.Second), "Unknown right after the request")
	assert.False(t, exports.Pending(dmf.StatusUnknown, nil, 10*time.Minute), "Unknown after the grace is an end")
	assert.False(t, exports.Pending("", notFound, 10*time.Minute))
	assert.False(t, exports.Pending(dmf.StatusExecuting, nil, time.Second))
	assert.False(t, exports.Pending("", errors.New("connection refused"), time.Second))
	assert.False(t, exports.Pending("", &dmf.HTTPError{StatusCode: 400, Message: "Data project does not exist"}, time.Second))
}

func TestNextForMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status   string
		hasFile  bool
		onNoFile string
		action   exports.MessageAction
		next     string
	}{
		{"", true, config.OnNoFileAck, exports.Write, jobhistory.MessageDequeued},
		{jobhistory.MessageDequeued, true, config.OnNoFileAck, exports.Write, jobhistory.MessageDequeued}, // crashed before the write
		{jobhistory.MessageFailed, true, config.OnNoFileAck, exports.Write, jobhistory.MessageDequeued},   // tried again
		{jobhistory.MessageWritten, true, config.OnNoFileAck, exports.Ack, jobhistory.MessageWritten},     // crashed before the ack
		{jobhistory.MessageAcked, true, config.OnNoFileAck, exports.Ack, jobhistory.MessageAcked},         // redelivered anyway
		{jobhistory.MessageWritten, false, config.OnNoFileSkip, exports.Ack, jobhistory.MessageWritten},   // written once: never again
		{"", false, config.OnNoFileAck, exports.Ack, jobhistory.MessageNoFile},                            // a 200 without a file
		{"", false, config.OnNoFileSkip, exports.Leave, jobhistory.MessageSkipped},                        // left for F&O
		{jobhistory.MessageSkipped, true, config.OnNoFileSkip, exports.Write, jobhistory.MessageDequeued}, // back with a file
		{jobhistory.MessageSkipped, false, config.OnNoFileSkip, exports.Leave, jobhistory.MessageSkipped}, // still none
		{jobhistory.MessageNoFile, false, config.OnNoFileAck, exports.Ack, jobhistory.MessageNoFile},      // its ack was lost
		{jobhistory.MessageDequeued, false, config.OnNoFileAck, exports.Ack, jobhistory.MessageNoFile},    // lost its file
	} {
		action, next := exports.NextForMessage(tc.status, tc.hasFile, tc.onNoFile)
		assert.Equal(t, tc.action, action, "%+v", tc)
		assert.Equal(t, tc.next, next, "%+v", tc)
	}
}

func TestLimitsFull(t *testing.T) {
	t.Parallel()
	assert.False(t, exports.Limits{}.Full(1e9, 1e12), "no bounds")
	assert.False(t, exports.Limits{Rows: 1}.Full(0, 0), "a part takes at least one row")
	assert.True(t, exports.Limits{Rows: 1}.Full(1, 0))
	assert.False(t, exports.Limits{Rows: 100, Bytes: 1000}.Full(99, 999))
	assert.True(t, exports.Limits{Rows: 100, Bytes: 1000}.Full(99, 1000))
	assert.True(t, exports.Limits{Rows: 100, Bytes: 1000}.Full(100, 1))
	assert.True(t, exports.Limits{Bytes: 10}.Full(1, 1<<20), "one large row still fills a part")
}

func TestRecurringOutcome(t *testing.T) {
	t.Parallel()
	m := func(statuses ...string) []jobhistory.RecurringMessage {
		var out []jobhistory.RecurringMessage
		for _, s := range statuses {
			out = append(out, jobhistory.RecurringMessage{Status: s})
		}
		return out
	}
	for _, tc := range []struct {
		msgs   []jobhistory.RecurringMessage
		jobErr string
		want   string
	}{
		{nil, "", jobhistory.JobSucceeded},
		{m(jobhistory.MessageAcked, jobhistory.MessageAcked), "", jobhistory.JobSucceeded},
		{m(jobhistory.MessageAcked, jobhistory.MessageSkipped), "", jobhistory.JobSucceeded},
		{m(jobhistory.MessageAcked, jobhistory.MessageFailed), "", jobhistory.JobPartiallySucceeded},
		{m(jobhistory.MessageAcked, jobhistory.MessageWritten), "", jobhistory.JobPartiallySucceeded},
		{m(jobhistory.MessageFailed), "", jobhistory.JobFailed},
		{nil, "dequeue: 401", jobhistory.JobFailed},
		{m(jobhistory.MessageAcked), "dequeue #2: giving up", jobhistory.JobPartiallySucceeded},
	} {
		got, _ := exports.RecurringOutcome(tc.msgs, tc.jobErr)
		assert.Equal(t, tc.want, got, "%+v", tc)
	}
}

func TestExecutionIDAndFileNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "orders-12-export-ab12cd34", exports.ExecutionID("orders", 12, "ab12cd34"))
	assert.Equal(t, "orders-12-export", exports.ExecutionID("orders", 12, ""))
	tmpl := pathtemplate.MustParse("out/{entity}-{part}.csv")
	v := pathtemplate.Vars{Entity: "Customers V3", Part: 2}
	name, err := exports.FileName(tmpl, v, true)
	require.NoError(t, err)
	assert.Equal(t, "out/Customers V3-2.csv.gz", name)
	name, err = exports.FileName(pathtemplate.MustParse("out/{entity}.csv.gz"), v, true)
	require.NoError(t, err)
	assert.Equal(t, "out/Customers V3.csv.gz", name, "no second .gz")
	name, err = exports.FileName(tmpl, v, false)
	require.NoError(t, err)
	assert.Equal(t, "out/Customers V3-2.csv", name)
}

func TestManifestEncodeIsDeterministic(t *testing.T) {
	t.Parallel()
	m := exports.Manifest{Project: "p", Job: 1, Execution: "x", Status: "Succeeded", Format: "csv",
		ExportedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	a, err := m.Encode()
	require.NoError(t, err)
	b, err := m.Encode()
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Contains(t, string(a), `"files": []`, "an empty list, never null")
	assert.Contains(t, string(a), `"exported_at": "2026-12-01T10:00:00Z"`)
}
