package jobhistory_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

type listBundle struct {
	pool  *pgxpool.Pool
	store *jobhistory.Store
}

func setupList(t *testing.T) *listBundle {
	t.Helper()
	pool, _ := testsvc.MigratedDatabase(t)
	return &listBundle{pool: pool, store: jobhistory.NewStore(pool)}
}

func listedIDs(jobs []jobhistory.JobListing) []int64 {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupList(t)

	file, err := jobhistory.NewLedger(b.pool).Record(ctx, "a", "local", ingest.FileInfo{Name: "in/customers.csv", Size: 10}, false)
	require.NoError(t, err)
	// a1 (a, failed, with a file), b1 (b, queued), a2 (a, running), a3 (a, failed)
	a1, err := b.store.CreateJob(ctx, jobhistory.NewJob{Project: "a", Trigger: "run", SourceFileID: file})
	require.NoError(t, err)
	require.NoError(t, b.store.SetStaged(ctx, a1, 7, 7, 2))
	require.NoError(t, b.store.Finish(ctx, a1, jobhistory.JobFailed, jobhistory.JobCounts{Read: 7, Invalid: 2}, "boom"))
	b1, err := b.store.CreateJob(ctx, jobhistory.NewJob{Project: "b", Trigger: "schedule"})
	require.NoError(t, err)
	a2, err := b.store.CreateJob(ctx, jobhistory.NewJob{Project: "a", Trigger: "run"})
	require.NoError(t, err)
	require.NoError(t, b.store.SetStage(ctx, a2, "ingest"))
	a3, err := b.store.CreateJob(ctx, jobhistory.NewJob{Project: "a", Trigger: "retry"})
	require.NoError(t, err)
	require.NoError(t, b.store.Finish(ctx, a3, jobhistory.JobFailed, jobhistory.JobCounts{}, "again"))

	all, next, err := b.store.ListJobs(ctx, jobhistory.JobFilter{})
	require.NoError(t, err)
	assert.Equal(t, []int64{a3, a2, b1, a1}, listedIDs(all), "newest first")
	assert.Zero(t, next)
	oldest := all[3]
	assert.Equal(t, "in/customers.csv", oldest.File)
	assert.Equal(t, file, oldest.SourceFileID)
	assert.Equal(t, jobhistory.JobFailed, oldest.Status)
	assert.Equal(t, "boom", oldest.Error)
	assert.Equal(t, jobhistory.JobCounts{Read: 7, Invalid: 2}, oldest.Counts)
	assert.False(t, oldest.FinishedAt.IsZero())
	assert.Empty(t, all[0].File, "a job without a file")
	one, err := b.store.Job(ctx, a1)
	require.NoError(t, err)
	assert.Equal(t, *one, oldest.Job, "ListJobs reads a job as Job does")

	got, _, err := b.store.ListJobs(ctx, jobhistory.JobFilter{Project: "a"})
	require.NoError(t, err)
	assert.Equal(t, []int64{a3, a2, a1}, listedIDs(got))
	got, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Status: jobhistory.JobFailed})
	require.NoError(t, err)
	assert.Equal(t, []int64{a3, a1}, listedIDs(got))
	got, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Project: "b", Status: jobhistory.JobFailed})
	require.NoError(t, err)
	assert.Empty(t, got)
	got, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Project: "nope"})
	require.NoError(t, err)
	assert.Empty(t, got)

	got, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Trigger: "run"})
	require.NoError(t, err)
	assert.Equal(t, []int64{a2, a1}, listedIDs(got))
	got, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Trigger: "schedule", Project: "a"})
	require.NoError(t, err)
	assert.Empty(t, got)

	// A date range is on the creation time, from included, before excluded.
	created := all[1].CreatedAt // a2
	got, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{CreatedFrom: created})
	require.NoError(t, err)
	assert.Equal(t, []int64{a3, a2}, listedIDs(got))
	got, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{CreatedBefore: created})
	require.NoError(t, err)
	assert.Equal(t, []int64{b1, a1}, listedIDs(got))
	got, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{CreatedFrom: created.Add(-time.Hour), CreatedBefore: created.Add(time.Hour), Status: jobhistory.JobRunning})
	require.NoError(t, err)
	assert.Equal(t, []int64{a2}, listedIDs(got))

	_, _, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Limit: -1})
	assert.Error(t, err)
}

func TestListJobsPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupList(t)

	var ids []int64 // oldest first
	for i := 0; i < 25; i++ {
		project := "a"
		if i%5 == 0 {
			project = "b"
		}
		id, err := b.store.CreateJob(ctx, jobhistory.NewJob{Project: project, Trigger: "run"})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	newest := func(from, n int) []int64 { // n ids counting down from ids[from]
		out := make([]int64, n)
		for i := range out {
			out[i] = ids[from-i]
		}
		return out
	}

	page, next, err := b.store.ListJobs(ctx, jobhistory.JobFilter{})
	require.NoError(t, err)
	assert.Equal(t, newest(24, jobhistory.DefaultListLimit), listedIDs(page), "Limit 0 is the default")
	assert.Equal(t, ids[5], next)
	page, next, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Before: next})
	require.NoError(t, err)
	assert.Equal(t, newest(4, 5), listedIDs(page))
	assert.Zero(t, next, "the last page")

	page, next, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, newest(24, 10), listedIDs(page))
	assert.Equal(t, ids[15], next)
	// A job created between two pages shifts nothing.
	_, err = b.store.CreateJob(ctx, jobhistory.NewJob{Project: "a", Trigger: "run"})
	require.NoError(t, err)
	page, next, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Limit: 10, Before: next})
	require.NoError(t, err)
	assert.Equal(t, newest(14, 10), listedIDs(page))
	assert.Equal(t, ids[5], next)

	// A page that ends exactly at the last job has no next.
	page, next, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Limit: 5, Before: ids[5]})
	require.NoError(t, err)
	assert.Equal(t, newest(4, 5), listedIDs(page))
	assert.Zero(t, next)

	// Paging with a filter: project b has ids[0], ids[5], ..., ids[20].
	page, next, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Project: "b", Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []int64{ids[20], ids[15]}, listedIDs(page))
	assert.Equal(t, ids[15], next)
	page, next, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Project: "b", Limit: 2, Before: next})
	require.NoError(t, err)
	assert.Equal(t, []int64{ids[10], ids[5]}, listedIDs(page))
	page, next, err = b.store.ListJobs(ctx, jobhistory.JobFilter{Project: "b", Limit: 2, Before: next})
	require.NoError(t, err)
	assert.Equal(t, []int64{ids[0]}, listedIDs(page))
	assert.Zero(t, next)
}

func TestListExecutions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupList(t)

	id, err := b.store.CreateJob(ctx, jobhistory.NewJob{Project: "p", Trigger: "run", Environment: "env", LegalEntity: "USMF"})
	require.NoError(t, err)
	other, err := b.store.CreateJob(ctx, jobhistory.NewJob{Project: "p", Trigger: "run"})
	require.NoError(t, err)
	none, err := b.store.Executions(ctx, id)
	require.NoError(t, err)
	assert.Empty(t, none)

	// Recorded out of order: Executions sorts by chunk and attempt.
	for _, e := range []jobhistory.Execution{
		{ID: "p-1-2-1", JobID: id, ChunkNo: 2, Attempt: 1},
		{ID: "p-1-1-2", JobID: id, ChunkNo: 1, Attempt: 2},
		{ID: "p-1-1-1", JobID: id, ChunkNo: 1, Attempt: 1},
		{ID: "p-2-1-1", JobID: other, ChunkNo: 1, Attempt: 1},
	} {
		e.Environment, e.DefinitionGroup, e.LegalEntity = "env", "G-L1", "USMF"
		require.NoError(t, b.store.RecordExecution(ctx, e))
	}
	require.NoError(t, b.store.SetSubmitted(ctx, "p-1-1-1", "{blob}"))
	testsvc.AnswerStatus(t, b.store, "p-1-1-1", 0, "Failed", true, "F&O said no")

	execs, err := b.store.Executions(ctx, id)
	require.NoError(t, err)
	require.Len(t, execs, 3)
	assert.Equal(t, []string{"p-1-1-1", "p-1-1-2", "p-1-2-1"}, []string{execs[0].ID, execs[1].ID, execs[2].ID})
	ids, err := b.store.ExecutionIDs(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, ids, []string{execs[0].ID, execs[1].ID, execs[2].ID}, "the order of ExecutionIDs")
	for _, e := range execs {
		one, ok, err := b.store.Execution(ctx, e.ID)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, one, e, "Executions reads an execution as Execution does")
	}
	first := execs[0]
	assert.Equal(t, "Failed", first.DMFStatus)
	assert.Equal(t, "F&O said no", first.Error)
	assert.Equal(t, "{blob}", first.BlobID)
	assert.Equal(t, 1, first.Polls)
	assert.Equal(t, "import", first.Operation)
	assert.WithinDuration(t, time.Now(), first.FinishedAt, time.Minute)
	assert.True(t, execs[1].SubmittedAt.IsZero())
	assert.Empty(t, execs[1].DMFStatus)
}

func TestProjectAuditTrail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupList(t)
	require.NoError(t, b.store.AddProjectEntry(ctx, jobhistory.ProjectEntry{Project: "customers", Actor: "otto", Action: jobhistory.ProjectPause}))
	require.NoError(t, b.store.AddProjectEntry(ctx, jobhistory.ProjectEntry{Project: "vendors", Actor: "otto", Action: jobhistory.ProjectPause}))
	require.NoError(t, b.store.AddProjectEntry(ctx, jobhistory.ProjectEntry{Project: "customers", Actor: "ada", Action: jobhistory.ProjectRunNow,
		Attrs: map[string]any{"river_job": 7}}))
	err := b.store.AddProjectEntry(ctx, jobhistory.ProjectEntry{Project: "customers", Actor: "ada", Action: "delete"})
	require.Error(t, err, "not an action of the trail")

	entries, err := b.store.ProjectEntries(ctx, "customers", 10)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, "ada", entries[0].Actor)
	assert.Equal(t, jobhistory.ProjectRunNow, entries[0].Action)
	assert.Equal(t, map[string]any{"river_job": float64(7)}, entries[0].Attrs)
	assert.Equal(t, jobhistory.ProjectPause, entries[1].Action)
	assert.Nil(t, entries[1].Attrs)
	assert.WithinDuration(t, time.Now(), entries[1].At, time.Minute)
	entries, err = b.store.ProjectEntries(ctx, "customers", 1)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}
