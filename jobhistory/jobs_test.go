package jobhistory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

func TestJobsChunksExecutionsEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testsvc.MigratedDatabase(t)
	s := jobhistory.NewStore(pool)

	tick := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	id, err := s.CreateJob(ctx, jobhistory.NewJob{Project: "p", Trigger: "schedule", ScheduledFor: tick, Environment: "env", LegalEntity: "USMF"})
	require.NoError(t, err)
	taken, err := s.TickTaken(ctx, "p", tick)
	require.NoError(t, err)
	assert.True(t, taken)
	taken, err = s.TickTaken(ctx, "p", tick.Add(time.Hour))
	require.NoError(t, err)
	assert.False(t, taken)

	j, err := s.Job(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.JobQueued, j.Status)
	assert.Equal(t, "import", j.Kind)
	assert.True(t, j.ScheduledFor.Equal(tick))
	assert.Equal(t, "USMF", j.LegalEntity)
	assert.True(t, j.StartedAt.IsZero())

	require.NoError(t, s.SetStage(ctx, id, "ingest"))
	require.NoError(t, s.SetStaged(ctx, id, 10, 10, 2))
	require.NoError(t, s.InsertChunks(ctx, id, []jobhistory.Chunk{
		{No: 1, Lane: 1, FirstRow: 1, LastRow: 5, RowCount: 4},
		{No: 2, Lane: 2, FirstRow: 6, LastRow: 10, RowCount: 4},
	}))
	j, err = s.Job(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.JobRunning, j.Status)
	assert.Equal(t, 2, j.ChunksTotal)
	assert.False(t, j.StartedAt.IsZero())
	assert.Equal(t, jobhistory.JobCounts{Read: 10, Staged: 10, Invalid: 2}, j.Counts)

	attempt, err := s.StartChunkUpload(ctx, id, 1)
	require.NoError(t, err)
	assert.Equal(t, 1, attempt)
	attempt, err = s.StartChunkUpload(ctx, id, 1) // a retried upload continues its attempt
	require.NoError(t, err)
	assert.Equal(t, 1, attempt)
	c, err := s.Chunk(ctx, id, 1)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.ChunkUploading, c.Status)
	_, err = s.Chunk(ctx, id, 3)
	assert.ErrorIs(t, err, jobhistory.ErrChunkNotFound)

	ex := jobhistory.Execution{ID: "p-1-1-1", JobID: id, ChunkNo: 1, Attempt: 1, Environment: "env",
		DefinitionGroup: "G-L1", LegalEntity: "USMF"}
	_, ok, err := s.Execution(ctx, ex.ID)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, s.RecordExecution(ctx, ex))
	require.NoError(t, s.RecordExecution(ctx, ex), "recording again is a no-op")
	got, ok, err := s.Execution(ctx, ex.ID)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, got.SubmittedAt.IsZero())
	// Two askers that read the execution at once: only one may call F&O.
	claimed, err := s.ClaimPoll(ctx, ex.ID, got.Polls)
	require.NoError(t, err)
	assert.True(t, claimed)
	claimed, err = s.ClaimPoll(ctx, ex.ID, got.Polls)
	require.NoError(t, err)
	assert.False(t, claimed, "a status call another took since the polls count was read")
	require.NoError(t, s.RecordAnswer(ctx, ex.ID, "NotRun", false, ""))
	got, _, err = s.Execution(ctx, ex.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Polls)
	assert.Equal(t, "NotRun", got.DMFStatus)
	require.NoError(t, s.RecordAnswer(ctx, ex.ID, "", false, ""))
	got, _, err = s.Execution(ctx, ex.ID)
	require.NoError(t, err)
	assert.Equal(t, "NotRun", got.DMFStatus, "a failed call keeps the last status seen")
	require.NoError(t, s.SetSubmitted(ctx, ex.ID, "{blob}"))
	testsvc.AnswerStatus(t, s, ex.ID, 1, "Executing", false, "")
	testsvc.AnswerStatus(t, s, ex.ID, 2, "Succeeded", true, "")
	got, _, err = s.Execution(ctx, ex.ID)
	require.NoError(t, err)
	assert.Equal(t, "{blob}", got.BlobID)
	assert.Equal(t, "Succeeded", got.DMFStatus)
	assert.Equal(t, 3, got.Polls)
	assert.False(t, got.SubmittedAt.IsZero())
	assert.False(t, got.FinishedAt.IsZero())
	ids, err := s.ExecutionIDs(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, []string{"p-1-1-1"}, ids)

	pending, err := s.ChunksPending(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, 2, pending)
	require.NoError(t, s.SetChunkStatus(ctx, id, 1, jobhistory.ChunkSucceeded, ""))
	require.NoError(t, s.SetChunkStatus(ctx, id, 2, jobhistory.ChunkFailed, "boom"))
	pending, err = s.ChunksPending(ctx, id)
	require.NoError(t, err)
	assert.Zero(t, pending)
	chunks, err := s.Chunks(ctx, id)
	require.NoError(t, err)
	require.Len(t, chunks, 2)
	assert.Equal(t, "boom", chunks[1].Error)

	require.NoError(t, s.AddEvent(ctx, id, "ingest", "info", "read", map[string]any{"rows": 10}))
	require.NoError(t, s.AddEvent(ctx, id, "finalize", "warn", "done", nil))
	events, err := s.Events(ctx, id)
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, "ingest", events[0].Stage)
	assert.EqualValues(t, 10, events[0].Attrs["rows"])

	assert.Error(t, s.Finish(ctx, id, jobhistory.JobRunning, jobhistory.JobCounts{}, ""))
	final := jobhistory.JobCounts{Read: 10, Staged: 10, Invalid: 2, Uploaded: 8, Imported: 4, Rejected: 4}
	require.NoError(t, s.Finish(ctx, id, jobhistory.JobPartiallySucceeded, final, ""))
	j, err = s.Job(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.JobPartiallySucceeded, j.Status)
	assert.Equal(t, final, j.Counts)
	assert.False(t, j.FinishedAt.IsZero())
	assert.Error(t, s.SetStage(ctx, id, "upload"), "an ended job does not run again")

	_, err = s.Job(ctx, id+100)
	assert.ErrorIs(t, err, jobhistory.ErrJobNotFound)
}

func TestNodeRegistry(t *testing.T) {
	t.Parallel()
	pool, _ := testsvc.MigratedDatabase(t)
	ctx := t.Context()
	s := jobhistory.NewStore(pool)
	require.NoError(t, s.RegisterNode(ctx, jobhistory.Node{ID: "a", Host: "h", PID: 1, Projects: map[string]string{"customers": "v1", "vendors": "v1"},
		Schedules: map[string]jobhistory.Schedule{"vendors": {Cron: "0 2 * * *", Timezone: "Europe/Amsterdam"}}}))
	require.NoError(t, s.RegisterNode(ctx, jobhistory.Node{ID: "b", Host: "h", PID: 2, Projects: map[string]string{"customers": "v2"}}))
	require.NoError(t, s.RegisterNode(ctx, jobhistory.Node{ID: "run", Host: "h", PID: 3, Foreground: true, Projects: map[string]string{"customers": "v1"}}))

	knowing := func(project, version, except string, fg bool) []string {
		ids, err := s.NodesKnowing(ctx, project, version, except, fg, time.Minute)
		require.NoError(t, err)
		return ids
	}
	assert.Equal(t, []string{"a"}, knowing("customers", "v1", "b", false))
	assert.Equal(t, []string{"a", "run"}, knowing("customers", "v1", "b", true))
	assert.Empty(t, knowing("customers", "v1", "a", false))
	assert.Equal(t, []string{"b"}, knowing("customers", "v2", "", false))
	assert.Empty(t, knowing("orders", "v1", "", true))
	assert.Equal(t, []string{"a", "b"}, knowing("customers", "", "", false), "any version")

	// A node not seen for longer than fresh does not count.
	_, err := pool.Exec(ctx, `UPDATE nodes SET seen_at = now() - interval '2 minutes' WHERE id = 'a'`)
	require.NoError(t, err)
	assert.Empty(t, knowing("customers", "v1", "b", false))
	require.NoError(t, s.TouchNode(ctx, jobhistory.Node{ID: "a"}))
	assert.Equal(t, []string{"a"}, knowing("customers", "v1", "b", false))

	// Touching a node whose row was removed registers it again.
	require.NoError(t, s.RemoveNode(ctx, "b"))
	require.NoError(t, s.TouchNode(ctx, jobhistory.Node{ID: "b", Projects: map[string]string{"customers": "v2"}}))
	nodes, err := s.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 3)
	assert.Equal(t, map[string]string{"customers": "v1", "vendors": "v1"}, nodes[0].Projects)
	assert.Equal(t, map[string]jobhistory.Schedule{"vendors": {Cron: "0 2 * * *", Timezone: "Europe/Amsterdam"}}, nodes[0].Schedules)
	assert.Empty(t, nodes[1].Schedules)
}
