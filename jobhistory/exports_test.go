package jobhistory_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// A recurring message is recorded at its first dequeue; a later dequeue of it replaces
// its body (the ack must send the last one), counts one more dequeue and keeps its
// status, so that a message written once is known as such when F&O hands it out again.
func TestRecurringMessagesByCorrelationID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testsvc.MigratedDatabase(t)
	s := jobhistory.NewStore(pool)
	job1, err := s.CreateJob(ctx, jobhistory.NewJob{Project: "feed", Kind: "export", Trigger: "schedule"})
	require.NoError(t, err)
	job2, err := s.CreateJob(ctx, jobhistory.NewJob{Project: "feed", Kind: "export", Trigger: "schedule"})
	require.NoError(t, err)

	m := jobhistory.RecurringMessage{Environment: "prod", Activity: "act", CorrelationID: "c1", Project: "feed", JobID: job1, Seq: 1,
		DequeueBody: []byte(`{"CorrelationId":"c1","PopReceipt":"r1"}`), DownloadLocation: "https://x/download"}
	rec, isNew, err := s.RecordDequeue(ctx, m)
	require.NoError(t, err)
	assert.True(t, isNew)
	assert.Equal(t, jobhistory.MessageDequeued, rec.Status)
	assert.Equal(t, 1, rec.Dequeues)
	require.NoError(t, s.SetMessageWritten(ctx, "prod", "act", "c1", 500, 2))
	require.NoError(t, s.CountAck(ctx, "prod", "act", "c1"))

	m.JobID, m.Seq, m.DequeueBody = job2, 4, []byte(`{"CorrelationId":"c1","PopReceipt":"r2"}`)
	rec, isNew, err = s.RecordDequeue(ctx, m)
	require.NoError(t, err)
	assert.False(t, isNew)
	assert.Equal(t, jobhistory.MessageWritten, rec.Status, "the status survives a redelivery")
	assert.Equal(t, 2, rec.Dequeues)
	assert.Equal(t, `{"CorrelationId":"c1","PopReceipt":"r2"}`, string(rec.DequeueBody), "the last dequeue's body, exactly")
	assert.Equal(t, job2, rec.JobID)
	assert.Equal(t, 4, rec.Seq)
	assert.EqualValues(t, 500, rec.Rows)
	assert.Equal(t, 1, rec.AckAttempts)
	assert.False(t, rec.WrittenAt.IsZero())

	require.NoError(t, s.SetMessageStatus(ctx, "prod", "act", "c1", jobhistory.MessageAcked, ""))
	got, err := s.RecurringMessageOf(ctx, "prod", "act", "c1")
	require.NoError(t, err)
	assert.Equal(t, jobhistory.MessageAcked, got.Status)
	assert.False(t, got.AckedAt.IsZero())
	msgs, err := s.JobMessages(ctx, job2)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	msgs, err = s.JobMessages(ctx, job1)
	require.NoError(t, err)
	assert.Empty(t, msgs, "the message belongs to the job that dequeued it last")
	last, ok, err := s.LastJobMessage(ctx, job2)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 4, last.Seq)
	_, ok, err = s.LastJobMessage(ctx, job1)
	require.NoError(t, err)
	assert.False(t, ok, "job 1 has no message left")

	// Another activity or environment is another message.
	other := m
	other.Activity = "act2"
	_, isNew, err = s.RecordDequeue(ctx, other)
	require.NoError(t, err)
	assert.True(t, isNew)
	_, err = s.RecurringMessageOf(ctx, "prod", "act", "nope")
	assert.ErrorIs(t, err, jobhistory.ErrMessageNotFound)
	assert.ErrorIs(t, s.SetMessageStatus(ctx, "prod", "act", "nope", jobhistory.MessageAcked, ""), jobhistory.ErrMessageNotFound)
}

func TestExportFilesAndEnqueuedMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testsvc.MigratedDatabase(t)
	s := jobhistory.NewStore(pool)
	job, err := s.CreateJob(ctx, jobhistory.NewJob{Project: "out", Kind: "export", Trigger: "run"})
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("data"))
	f := jobhistory.ExportFile{JobID: job, Unit: "x1", Kind: jobhistory.ExportData, Entity: "Customers V3", Part: 1, Connection: "out",
		Path: "a/b.csv", Rows: 3, Bytes: 4, SHA256: sum[:]}
	require.NoError(t, s.RecordExportFile(ctx, f))
	require.NoError(t, s.RecordExportFile(ctx, f), "recorded again: kept once")
	m := f
	m.Kind, m.Path, m.Rows = jobhistory.ExportManifest, "a/m.json", 0
	require.NoError(t, s.RecordExportFile(ctx, m))
	files, err := s.ExportFiles(ctx, job, "")
	require.NoError(t, err)
	require.Len(t, files, 2)
	assert.Equal(t, "a/b.csv", files[0].Path)
	assert.Equal(t, sum[:], files[0].SHA256)
	files, err = s.ExportFiles(ctx, job, "other")
	require.NoError(t, err)
	assert.Empty(t, files)
	f.SHA256 = []byte("short")
	f.Path = "a/c.csv"
	assert.Error(t, s.RecordExportFile(ctx, f), "a digest is 32 bytes")

	imp, err := s.CreateJob(ctx, jobhistory.NewJob{Project: "in", Trigger: "run"})
	require.NoError(t, err)
	ex := jobhistory.Execution{ID: "in-1-1-1-n", JobID: imp, ChunkNo: 1, Attempt: 1, Environment: "prod", DefinitionGroup: "recurring:act", LegalEntity: "USMF"}
	require.NoError(t, s.RecordExecution(ctx, ex))
	require.NoError(t, s.ForgetUnsent(ctx, ex.ID))
	_, ok, err := s.Execution(ctx, ex.ID)
	require.NoError(t, err)
	assert.False(t, ok, "an execution never sent is forgotten")

	require.NoError(t, s.RecordExecution(ctx, ex))
	require.NoError(t, s.SetSubmitted(ctx, ex.ID, "msg-1"))
	require.NoError(t, s.ForgetUnsent(ctx, ex.ID))
	_, ok, err = s.Execution(ctx, ex.ID)
	require.NoError(t, err)
	assert.True(t, ok, "a submitted execution is never forgotten")
	require.NoError(t, s.RecordEnqueued(ctx, jobhistory.EnqueuedMessage{ExecutionID: ex.ID, MessageID: "msg-1", Activity: "act", ExternalID: "f.csv", Bytes: 10}))
	got, ok, err := s.Enqueued(ctx, ex.ID)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "msg-1", got.MessageID)
	assert.Empty(t, got.FOExecutionID)
	require.NoError(t, s.SetFOExecution(ctx, ex.ID, "fo-exec"))
	got, _, err = s.Enqueued(ctx, ex.ID)
	require.NoError(t, err)
	assert.Equal(t, "fo-exec", got.FOExecutionID)
	_, ok, err = s.Enqueued(ctx, "none")
	require.NoError(t, err)
	assert.False(t, ok)
}
