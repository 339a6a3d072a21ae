package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

type jobsBundle struct {
	dbURL  string
	store  *jobhistory.Store
	ledger *jobhistory.Ledger
}

func setupJobs(t *testing.T) *jobsBundle {
	t.Helper()
	pool, dbURL := testsvc.MigratedDatabase(t)
	return &jobsBundle{dbURL: dbURL, store: jobhistory.NewStore(pool), ledger: jobhistory.NewLedger(pool)}
}

// cli runs `pipeline jobs ARGS... --database-url` on the bundle's database.
func (b *jobsBundle) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runCLI(t, append(append([]string{"jobs"}, args...), "--database-url", b.dbURL)...)
}

// createJob records a job of project in status, with counts when it has ended.
func (b *jobsBundle) createJob(t *testing.T, nj jobhistory.NewJob, status string, c jobhistory.JobCounts, msg string) int64 {
	t.Helper()
	ctx := context.Background()
	if nj.Trigger == "" {
		nj.Trigger = "run"
	}
	id, err := b.store.CreateJob(ctx, nj)
	require.NoError(t, err)
	switch {
	case status == jobhistory.JobRunning:
		require.NoError(t, b.store.SetStage(ctx, id, "ingest"))
		require.NoError(t, b.store.SetStaged(ctx, id, c.Read, c.Staged, c.Invalid))
	case jobhistory.JobTerminal(status):
		require.NoError(t, b.store.Finish(ctx, id, status, c, msg))
	}
	return id
}

// tableIDs returns the first column of a table's rows (the header and any line after the
// table left out).
func tableIDs(t *testing.T, out string) []int64 {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.NotEmpty(t, lines)
	require.True(t, strings.HasPrefix(lines[0], "ID "), out)
	var ids []int64
	for _, l := range lines[1:] {
		id, err := strconv.ParseInt(strings.Fields(l)[0], 10, 64)
		if err != nil {
			break
		}
		ids = append(ids, id)
	}
	return ids
}

func TestJobsList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupJobs(t)

	file, err := b.ledger.Record(ctx, "customers", "inbox", ingest.FileInfo{Name: "in/customers_1.csv", Size: 120}, false)
	require.NoError(t, err)
	partial := b.createJob(t, jobhistory.NewJob{Project: "customers", SourceFileID: file}, jobhistory.JobPartiallySucceeded,
		jobhistory.JobCounts{Read: 10, Staged: 10, Invalid: 2, Uploaded: 8, Imported: 5, Rejected: 3}, "")
	vendors := b.createJob(t, jobhistory.NewJob{Project: "vendors", Trigger: "schedule"}, jobhistory.JobFailed,
		jobhistory.JobCounts{}, "no environment")
	running := b.createJob(t, jobhistory.NewJob{Project: "customers"}, jobhistory.JobRunning, jobhistory.JobCounts{Read: 4, Staged: 4}, "")
	queued := b.createJob(t, jobhistory.NewJob{Project: "orders", Kind: "export", Trigger: "run_now"}, jobhistory.JobQueued,
		jobhistory.JobCounts{}, "")

	out, code := b.cli(t, "list")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []int64{queued, running, vendors, partial}, tableIDs(t, out), "newest first")
	assert.Regexp(t, `^ID\s+PROJECT\s+KIND\s+TRIGGER\s+STATUS\s+STAGE\s+FILE\s+READ\s+INVALID\s+IMPORTED\s+REJECTED\s+CREATED\s+DURATION\s+ERROR\n`, out)
	j, err := b.store.Job(ctx, partial)
	require.NoError(t, err)
	created := j.CreatedAt.In(time.Local).Format("2006-01-02 15:04")
	took := formatDuration(j.FinishedAt.Sub(j.CreatedAt), true)
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+customers\s+import\s+run\s+partially_succeeded\s+finalize\s+customers_1\.csv\s+10\s+2\s+5\s+3\s+%s\s+%s\s+-$`,
		partial, regexp.QuoteMeta(created), regexp.QuoteMeta(took)), out)
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+vendors\s+import\s+schedule\s+failed\s+finalize\s+-\s+0\s+0\s+0\s+0\s+\S+ \S+\s+\d\S*\s+no environment$`, vendors), out)
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+customers\s+import\s+run\s+running\s+ingest\s+-\s+4\s+0\s+0\s+0\s+\S+ \S+\s+[\d.]+m?s\s+-$`, running), out,
		"a running job shows how long it has been running")
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+orders\s+export\s+run_now\s+queued\s+discover\s+-`, queued), out)
	assert.NotContains(t, out, "--before", "everything fit on one page")

	out, code = b.cli(t, "list", "--project", "customers")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []int64{running, partial}, tableIDs(t, out))
	out, code = b.cli(t, "list", "--status", "failed")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []int64{vendors}, tableIDs(t, out))
	out, code = b.cli(t, "list", "--project", "customers", "--status", "partially_succeeded")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []int64{partial}, tableIDs(t, out))
	out, code = b.cli(t, "list", "--project", "customers", "--status", "failed")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, "no jobs\n", out)

	// -c finds the database in the config, as the other database commands do.
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`database:
  url: %q
environments:
  e: { url: "http://127.0.0.1:1", tenant: t, client_id: c, client_secret: s }
`, b.dbURL)), 0o600))
	out, code = runCLI(t, "jobs", "list", "-c", cfg, "--status", "queued")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []int64{queued}, tableIDs(t, out))
}

func TestJobsListPaging(t *testing.T) {
	t.Parallel()
	b := setupJobs(t)
	var ids []int64 // oldest first
	for i := 0; i < 25; i++ {
		project := "a"
		if i%2 == 0 {
			project = "b"
		}
		ids = append(ids, b.createJob(t, jobhistory.NewJob{Project: project}, jobhistory.JobSucceeded, jobhistory.JobCounts{}, ""))
	}
	hint := regexp.MustCompile(`(?m)^more jobs: add --before (\d+) for the next page$`)
	nextBefore := func(out string) string {
		t.Helper()
		m := hint.FindStringSubmatch(out)
		require.NotNil(t, m, "no hint line in\n%s", out)
		assert.True(t, strings.HasSuffix(out, m[0]+"\n"), "the hint is the last line")
		return m[1]
	}

	out, code := b.cli(t, "list")
	require.Equal(t, exitOK, code, out)
	got := tableIDs(t, out)
	require.Len(t, got, 20, "--limit defaults to 20")
	assert.Equal(t, ids[24], got[0])
	assert.Equal(t, ids[5], got[19])
	before := nextBefore(out)
	assert.Equal(t, strconv.FormatInt(ids[5], 10), before)
	out, code = b.cli(t, "list", "--before", before)
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}, tableIDs(t, out))
	assert.NotRegexp(t, hint, out, "the last page")

	// Paging a filter, to a page that ends exactly at the last job.
	out, code = b.cli(t, "list", "--project", "a", "--limit", "6")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []int64{ids[23], ids[21], ids[19], ids[17], ids[15], ids[13]}, tableIDs(t, out))
	out, code = b.cli(t, "list", "--project", "a", "--limit", "6", "--before", nextBefore(out))
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []int64{ids[11], ids[9], ids[7], ids[5], ids[3], ids[1]}, tableIDs(t, out))
	assert.NotRegexp(t, hint, out)

	out, code = b.cli(t, "list", "--before", strconv.FormatInt(ids[0], 10))
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, "no jobs\n", out)
}

func TestJobsListJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupJobs(t)

	out, code := b.cli(t, "list", "--json")
	require.Equal(t, exitOK, code, out)
	assert.JSONEq(t, `[]`, out, "no jobs is an empty array, not null")

	tick := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	file, err := b.ledger.Record(ctx, "customers", "inbox", ingest.FileInfo{Name: "in/customers_1.csv", Size: 120}, false)
	require.NoError(t, err)
	done := b.createJob(t, jobhistory.NewJob{Project: "customers", Trigger: "schedule", ScheduledFor: tick, SourceFileID: file,
		Environment: "emulator", LegalEntity: "USMF"}, jobhistory.JobFailed, jobhistory.JobCounts{Read: 3, Staged: 3, Invalid: 3}, "all rows invalid")
	queued := b.createJob(t, jobhistory.NewJob{Project: "vendors"}, jobhistory.JobQueued, jobhistory.JobCounts{}, "")

	out, code = b.cli(t, "list", "--json")
	require.Equal(t, exitOK, code, out)
	var jobs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &jobs), out)
	require.Len(t, jobs, 2)
	assert.EqualValues(t, queued, jobs[0]["id"])
	assert.EqualValues(t, done, jobs[1]["id"])

	j, err := b.store.Job(ctx, done)
	require.NoError(t, err)
	want := map[string]any{
		"id": float64(done), "project": "customers", "kind": "import", "trigger": "schedule",
		"scheduled_for": "2026-03-29T01:00:00Z", "status": "failed", "stage": "finalize",
		"environment": "emulator", "legal_entity": "USMF", "source_file_id": float64(file), "file": "in/customers_1.csv",
		"counts":       map[string]any{"read": 3.0, "staged": 3.0, "invalid": 3.0, "uploaded": 0.0, "imported": 0.0, "rejected": 0.0},
		"chunks_total": 0.0, "error": "all rows invalid",
		"created_at":       j.CreatedAt.UTC().Format(time.RFC3339Nano),
		"started_at":       j.StartedAt.UTC().Format(time.RFC3339Nano),
		"finished_at":      j.FinishedAt.UTC().Format(time.RFC3339Nano),
		"duration_seconds": j.FinishedAt.Sub(j.CreatedAt).Seconds(),
	}
	assert.Equal(t, want, jobs[1])

	q := jobs[0]
	assert.Equal(t, "queued", q["status"])
	for _, key := range []string{"scheduled_for", "started_at", "finished_at"} {
		v, ok := q[key]
		assert.True(t, ok, "%s is always there", key)
		assert.Nil(t, v, "%s of a queued job is null", key)
	}
	assert.Equal(t, "", q["file"])
	assert.Greater(t, q["duration_seconds"], 0.0, "a queued job's duration is its wait so far")

	out, code = b.cli(t, "list", "--json", "--limit", "1")
	require.Equal(t, exitOK, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &jobs), out)
	require.Len(t, jobs, 1)
	assert.EqualValues(t, queued, jobs[0]["id"])
}

func TestJobsListUsageErrors(t *testing.T) {
	t.Parallel()
	// Usage is checked before the database is opened: none is needed.
	cli := func(args ...string) (string, int) {
		return runCLI(t, append(append([]string{"jobs"}, args...), "--database-url", "postgres://127.0.0.1:1/none")...)
	}

	out, code := cli("list", "--status", "done")
	assert.Equal(t, exitUsage, code, out)
	assert.Equal(t, "pipeline: unknown --status \"done\" (valid: queued, running, succeeded, partially_succeeded, failed, canceled, skipped)\n", out)

	out, code = cli("list", "--limit", "0")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "--limit must be at least 1")

	out, code = cli("list", "--limit", "many")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `invalid argument "many" for "--limit"`)

	out, code = cli("list", "--before", "-3")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "--before must be a job id")

	out, code = cli("list", "extra")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `unknown command "extra"`)
}

func TestJobsShow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupJobs(t)
	s := b.store

	tick := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	file, err := b.ledger.Record(ctx, "customers", "inbox", ingest.FileInfo{Name: "in/customers_1.csv", Size: 120}, false)
	require.NoError(t, err)
	id, err := s.CreateJob(ctx, jobhistory.NewJob{Project: "customers", Trigger: "schedule", ScheduledFor: tick,
		SourceFileID: file, Environment: "emulator", LegalEntity: "USMF"})
	require.NoError(t, err)
	require.NoError(t, s.SetStage(ctx, id, "ingest"))
	require.NoError(t, s.AddEvent(ctx, id, "ingest", "info", "file read", map[string]any{"rows": 10, "file": "in/customers_1.csv"}))
	require.NoError(t, s.SetStaged(ctx, id, 10, 10, 2))
	require.NoError(t, s.InsertChunks(ctx, id, []jobhistory.Chunk{
		{No: 1, Lane: 1, FirstRow: 1, LastRow: 5, RowCount: 4},
		{No: 2, Lane: 2, FirstRow: 6, LastRow: 10, RowCount: 4},
	}))
	for _, e := range []jobhistory.Execution{
		{ID: "customers-1-1-1", ChunkNo: 1, Attempt: 1, DefinitionGroup: "G-L1"},
		{ID: "customers-1-2-1", ChunkNo: 2, Attempt: 1, DefinitionGroup: "G-L2"},
	} {
		e.JobID, e.Environment, e.LegalEntity = id, "emulator", "USMF"
		_, err := s.StartChunkUpload(ctx, id, e.ChunkNo)
		require.NoError(t, err)
		require.NoError(t, s.RecordExecution(ctx, e))
		require.NoError(t, s.SetSubmitted(ctx, e.ID, ""))
	}
	testsvc.AnswerStatus(t, s, "customers-1-1-1", 0, "Executing", false, "")
	testsvc.AnswerStatus(t, s, "customers-1-1-1", 1, "Succeeded", true, "")
	require.NoError(t, s.SetChunkStatus(ctx, id, 1, jobhistory.ChunkSucceeded, ""))
	testsvc.AnswerStatus(t, s, "customers-1-2-1", 0, "PartiallySucceeded", true, "4 records\nrejected")
	require.NoError(t, s.SetChunkStatus(ctx, id, 2, jobhistory.ChunkPartiallySucceeded, "4 records\trejected by F&O"))
	require.NoError(t, s.AddEvent(ctx, id, "poll", "warn", "chunk 2 partially succeeded", nil))
	require.NoError(t, s.Finish(ctx, id, jobhistory.JobPartiallySucceeded,
		jobhistory.JobCounts{Read: 10, Staged: 10, Invalid: 2, Uploaded: 8, Imported: 4, Rejected: 4}, "4 rows rejected by F&O"))
	require.NoError(t, s.AddEvent(ctx, id, "finalize", "info", "job ended", nil))
	j, err := s.Job(ctx, id)
	require.NoError(t, err)
	local := func(t time.Time) string { return regexp.QuoteMeta(t.In(time.Local).Format("2006-01-02 15:04:05 MST")) }

	out, code := b.cli(t, "show", strconv.FormatInt(id, 10))
	require.Equal(t, exitOK, code, out)
	for _, re := range []string{
		fmt.Sprintf(`(?m)^job:\s+%d$`, id),
		`(?m)^project:\s+customers$`,
		`(?m)^kind:\s+import$`,
		`(?m)^trigger:\s+schedule$`,
		`(?m)^scheduled for:\s+` + local(tick) + `$`,
		`(?m)^status:\s+partially_succeeded$`,
		`(?m)^stage:\s+finalize$`,
		`(?m)^environment:\s+emulator$`,
		`(?m)^legal entity:\s+USMF$`,
		`(?m)^file:\s+in/customers_1\.csv \(connection inbox, 120 bytes, taken\)$`,
		`(?m)^rows:\s+10 read, 10 staged, 2 invalid, 8 uploaded, 4 imported, 4 rejected$`,
		`(?m)^error:\s+4 rows rejected by F&O$`,
		`(?m)^created:\s+` + local(j.CreatedAt) + `$`,
		`(?m)^started:\s+` + local(j.StartedAt) + `$`,
		`(?m)^finished:\s+` + local(j.FinishedAt) + `$`,
		`(?m)^duration:\s+` + regexp.QuoteMeta(formatDuration(j.FinishedAt.Sub(j.CreatedAt), true)) + `$`,
		`(?m)^  NO\s+LANE\s+ROWS\s+STATUS\s+ATTEMPTS\s+ERROR$`,
		`(?m)^  1\s+1\s+4\s+succeeded\s+1\s+-$`,
		`(?m)^  2\s+2\s+4\s+partially_succeeded\s+1\s+4 records rejected by F&O$`,
		`(?m)^  ID\s+CHUNK\s+ATTEMPT\s+DEFINITION GROUP\s+DMF STATUS\s+POLLS\s+SUBMITTED\s+FINISHED\s+ERROR$`,
		`(?m)^  customers-1-1-1\s+1\s+1\s+G-L1\s+Succeeded\s+2\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+\s+-$`,
		`(?m)^  customers-1-2-1\s+2\s+1\s+G-L2\s+PartiallySucceeded\s+1\s+.*\s+4 records rejected$`,
		`(?m)^  TIME\s+STAGE\s+LEVEL\s+MESSAGE$`,
	} {
		assert.Regexp(t, re, out)
	}
	// The timeline, oldest first, attributes in key order.
	events := regexp.MustCompile(`(?m)^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\s+(\S+)\s+(\S+)\s+(.*)$`).FindAllStringSubmatch(out, -1)
	require.Len(t, events, 3, out)
	assert.Equal(t, []string{"ingest", "info", "file read file=in/customers_1.csv rows=10"}, events[0][1:])
	assert.Equal(t, []string{"poll", "warn", "chunk 2 partially succeeded"}, events[1][1:])
	assert.Equal(t, []string{"finalize", "info", "job ended"}, events[2][1:])
	assert.Regexp(t, `(?s)^job:.*\n\nchunks: 2\n.*\n\nexecutions: 2\n.*\n\nevents: 3\n`, out, "the sections in order, with their counts")

	out, code = b.cli(t, "show", strconv.FormatInt(id, 10), "--json")
	require.Equal(t, exitOK, code, out)
	var got struct {
		ID           int64                `json:"id"`
		Status       string               `json:"status"`
		File         string               `json:"file"`
		ScheduledFor time.Time            `json:"scheduled_for"`
		Counts       jobhistory.JobCounts `json:"counts"`
		ChunksTotal  int                  `json:"chunks_total"`
		Error        string               `json:"error"`
		Chunks       []map[string]any     `json:"chunks"`
		Executions   []map[string]any     `json:"executions"`
		Events       []map[string]any     `json:"events"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, id, got.ID)
	assert.Equal(t, "partially_succeeded", got.Status)
	assert.Equal(t, "in/customers_1.csv", got.File)
	assert.True(t, got.ScheduledFor.Equal(tick))
	assert.Equal(t, jobhistory.JobCounts{Read: 10, Staged: 10, Invalid: 2, Uploaded: 8, Imported: 4, Rejected: 4}, got.Counts)
	assert.Equal(t, 2, got.ChunksTotal)
	assert.Equal(t, "4 rows rejected by F&O", got.Error)
	require.Len(t, got.Chunks, 2)
	assert.Subset(t, got.Chunks[1], map[string]any{"no": 2.0, "lane": 2.0, "first_row": 6.0, "last_row": 10.0, "rows": 4.0,
		"status": "partially_succeeded", "attempts": 1.0, "error": "4 records\trejected by F&O"}, "--json keeps errors as they are")
	require.Len(t, got.Executions, 2)
	assert.Subset(t, got.Executions[0], map[string]any{"id": "customers-1-1-1", "chunk": 1.0, "attempt": 1.0,
		"operation": "import", "definition_group": "G-L1", "dmf_status": "Succeeded", "polls": 2.0, "error": ""})
	assert.NotNil(t, got.Executions[0]["submitted_at"])
	assert.NotNil(t, got.Executions[0]["finished_at"])
	assert.Equal(t, "4 records\nrejected", got.Executions[1]["error"])
	require.Len(t, got.Events, 3)
	assert.Subset(t, got.Events[0], map[string]any{"stage": "ingest", "level": "info", "message": "file read",
		"attrs": map[string]any{"rows": 10.0, "file": "in/customers_1.csv"}})
	assert.Equal(t, "job ended", got.Events[2]["message"])
}

func TestJobsShowQueuedJob(t *testing.T) {
	t.Parallel()
	b := setupJobs(t)
	id := b.createJob(t, jobhistory.NewJob{Project: "orders", Kind: "export", Trigger: "run_now"}, jobhistory.JobQueued, jobhistory.JobCounts{}, "")

	out, code := b.cli(t, "show", strconv.FormatInt(id, 10))
	require.Equal(t, exitOK, code, out)
	for _, re := range []string{
		`(?m)^scheduled for:\s+-$`, `(?m)^file:\s+-$`, `(?m)^environment:\s+-$`, `(?m)^error:\s+-$`,
		`(?m)^started:\s+-$`, `(?m)^finished:\s+-$`, `(?m)^duration:\s+[\d.]+m?s$`,
		`(?m)^chunks: 0\n\nexecutions: 0\n\nevents: 0\n\z`,
	} {
		assert.Regexp(t, re, out)
	}

	out, code = b.cli(t, "show", strconv.FormatInt(id, 10), "--json")
	require.Equal(t, exitOK, code, out)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	for _, key := range []string{"chunks", "executions", "events"} {
		assert.Equal(t, []any{}, got[key], "%s is an empty array, not null", key)
	}
}

func TestJobsShowMissing(t *testing.T) {
	t.Parallel()
	b := setupJobs(t)

	out, code := b.cli(t, "show", "42")
	assert.Equal(t, exitFailed, code, out)
	assert.Equal(t, "pipeline: job 42 not found\n", out)

	for _, arg := range []string{"abc", "0", "-1"} {
		out, code = runCLI(t, "jobs", "show", "--database-url", b.dbURL, "--", arg)
		assert.Equal(t, exitUsage, code, out)
		assert.Contains(t, out, fmt.Sprintf("JOB must be a job id (a positive number), got %q", arg))
	}
	out, code = b.cli(t, "show")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "show takes one JOB, got 0 arguments")
}

// An event's attributes read as they were written: sizes in full, structures as JSON.
func TestEventText(t *testing.T) {
	t.Parallel()
	e := jobhistory.Event{Message: "found customers.csv", Actor: "node-1", Attrs: map[string]any{
		"size": float64(1472588), "rate": 0.25, "file": "in/customers.csv", "dry_run": true, "none": nil,
		"counts": map[string]any{"valid": float64(3)}, "files": []any{"a", "b"},
	}}
	assert.Equal(t, `found customers.csv counts={"valid":3} dry_run=true file=in/customers.csv files=["a","b"] none=<nil> rate=0.25 size=1472588 (by node-1)`,
		eventText(e))
}
