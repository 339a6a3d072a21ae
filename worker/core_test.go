package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// F&O's messages go on their own rows or on the chunk, never on another row: the
// emulator numbers GetExecutionErrors' RecordIds as F&O's staging RecIds, unrelated to
// the rows' places in the package.
func TestFOMessagesGoOnTheirOwnRowsOrOnTheChunk(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 5000, lanes: 1})
	ctx := t.Context()
	bad := map[int64]bool{}
	b.drop(t, "customers_g.csv", testsvc.CustomersCSV(5000, func(i int, _, group *string) {
		if i%200 == 13 {
			*group = "99" // unknown to F&O, not to our rules
			bad[int64(i)] = true
		}
	}))
	require.Len(t, bad, 25)
	s := b.startOne(t, "customers_g.csv", false)
	require.Equal(t, jobhistory.JobPartiallySucceeded, s.Status, s.Error)
	assert.EqualValues(t, 4975, s.Counts.Imported)
	assert.EqualValues(t, 25, s.Counts.Rejected)

	st := staging.NewStore(b.pool)
	var rejected []int64
	for after := int64(0); ; {
		rows, err := st.Rows(ctx, s.ID, staging.StatusRejected, after, 100)
		require.NoError(t, err)
		if len(rows) == 0 {
			break
		}
		for _, r := range rows {
			rejected = append(rejected, r.No)
			require.NotEmpty(t, r.Errors, "row %d", r.No)
			for _, e := range r.Errors {
				assert.EqualValues(t, staging.RuleFO, e.Rule)
			}
			after = r.No
		}
	}
	var want []int64
	for i := int64(1); i <= 5000; i++ {
		if bad[i] {
			want = append(want, i)
		}
	}
	assert.Equal(t, want, rejected, "exactly the rows F&O refused are rejected")
	groups, err := st.ErrorSummary(ctx, s.ID)
	require.NoError(t, err)
	for _, g := range groups {
		if string(g.Rule) == staging.RuleFO {
			assert.EqualValues(t, 25, g.Rows, "F&O's errors are on the 25 rows only: %+v", g)
		}
	}
	// The messages that name no row (F&O's names the group, not the customer) are on the
	// chunk.
	chunks, err := jobhistory.NewStore(b.pool).Chunks(ctx, s.ID)
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	assert.Equal(t, jobhistory.ChunkPartiallySucceeded, chunks[0].Status)
	assert.Contains(t, chunks[0].Error, "'99'")
}

// A status call of an execution keeps to the execution's poll schedule whichever stage
// makes it and however often its step is offered again (a restarted run resumes it at
// once): the emulator flags calls closer than the schedule.
func TestPollsKeepTheirScheduleAcrossRestarts(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1, poll: "{ initial: 700ms, max: 700ms, deadline: 2m }",
		emulator: func(c *emulator.Config) {
			c.ExecutionDelay = 1500 * time.Millisecond
			c.MinStatusInterval = 600 * time.Millisecond
		}})
	ctx := t.Context()
	b.drop(t, "customers_p.csv", testsvc.CustomersCSV(200, nil))
	ids, err := b.w.StartJob(ctx, testProject, []string{"customers_p.csv"}, imports.TriggerRun, false)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var polled bool
		return b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dmf_executions WHERE job_id = $1 AND polls > 0 AND finished_at IS NULL)`,
			ids[0]).Scan(&polled) == nil && polled
	}, 30*time.Second, 10*time.Millisecond)
	// As a run started again would: every waiting step of the job runnable now.
	for range 3 {
		_, err := b.w.Resume(ctx, testProject)
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond)
	}
	s := b.wait(t, ids[0])
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Empty(t, b.em.Stats().ProtocolViolations)
}

// Executions that never end fail their chunks at the poll deadline, an import queued
// behind them in F&O shows on the timeline, and every row ends where an operator can act
// on it: nothing is left uploaded or valid, and the file is not archived as done.
func TestStuckExecutionsLeaveEveryRowAccountedFor(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1, poll: "{ initial: 50ms, max: 200ms, deadline: 1s }",
		faults: emulator.Faults{StuckExecuting: true},
		dmf:    func(o *dmf.Options) { o.LongRequestTimeout = 700 * time.Millisecond }})
	ctx := t.Context()
	b.drop(t, "customers_x.csv", testsvc.CustomersCSV(300, nil))
	s := b.startOne(t, "customers_x.csv", false)
	require.Equal(t, jobhistory.JobFailed, s.Status, s.Error)
	assert.Equal(t, jobhistory.JobCounts{Read: 300, Staged: 300, NotImported: 300}, s.Counts)

	counts, err := staging.NewStore(b.pool).Counts(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 300, Rejected: 300}, counts)
	groups, err := staging.NewStore(b.pool).ErrorSummary(ctx, s.ID)
	require.NoError(t, err)
	require.Len(t, groups, 1)
	assert.EqualValues(t, staging.RuleNotImported, groups[0].Rule)
	assert.EqualValues(t, 300, groups[0].Rows)
	assert.FileExists(t, filepath.Join(b.root, "failed", "customers_x.csv"))

	events, err := jobhistory.NewStore(b.pool).Events(ctx, s.ID)
	require.NoError(t, err)
	var waited, deadline bool
	for _, e := range events {
		waited = waited || strings.Contains(e.Message, "has been staging execution") || strings.Contains(e.Message, "waiting")
		deadline = deadline || strings.Contains(e.Message, "poll deadline")
	}
	assert.True(t, waited, "a wait on F&O longer than a poll interval is on the timeline")
	assert.True(t, deadline)
}

// Two databases against one F&O environment (a restore, a second installation) number
// their jobs alike; their execution ids still differ.
func TestExecutionIDsDoNotRepeatAcrossDatabases(t *testing.T) {
	t.Parallel()
	first := setup(t, testOpts{chunkRows: 100, lanes: 1})
	second := setup(t, testOpts{chunkRows: 100, lanes: 1, sameFO: first})
	first.drop(t, "customers_1.csv", testsvc.CustomersCSV(150, nil))
	second.drop(t, "customers_1.csv", testsvc.CustomersCSV(150, func(i int, account, _ *string) { *account = fmt.Sprintf("s%06d", i) }))
	a := first.startOne(t, "customers_1.csv", false)
	b := second.startOne(t, "customers_1.csv", false)
	require.Equal(t, a.ID, b.ID, "the two databases number their jobs alike")
	require.Equal(t, jobhistory.JobSucceeded, a.Status, a.Error)
	require.Equal(t, jobhistory.JobSucceeded, b.Status, b.Error)
	assert.NotEqual(t, first.executionID(t, a.ID, 1, 1), second.executionID(t, b.ID, 1, 1))
	assert.Len(t, first.em.Rows(testEntity, testLE), 300)
	assert.Empty(t, first.em.Stats().ProtocolViolations)
}

// A node never fails a job it cannot run: a node whose configuration lacks the project
// (another config, a rolling deploy) leaves the job's steps to a node that knows it.
func TestANodeLeavesStepsOfProjectsItDoesNotKnow(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 500, lanes: 2})
	ctx := t.Context()
	other := otherConfig(t, b, func(yaml string) string {
		return strings.Replace(yaml, "  - name: customers\n", "  - name: projb\n", 1)
	})
	stranger := startTestWorker(t, b.pool, other, slog.New(slog.DiscardHandler))

	b.drop(t, "customers_n.csv", testsvc.CustomersCSV(3000, nil))
	s := b.startOne(t, "customers_n.csv", false)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.EqualValues(t, 3000, s.Counts.Imported)
	events, err := jobhistory.NewStore(b.pool).Events(ctx, s.ID)
	require.NoError(t, err)
	for _, e := range events {
		assert.NotContains(t, e.Message, "not in the configuration")
		if e.Actor != "" {
			assert.Contains(t, []string{b.w.ID(), stranger.ID()}, e.Actor)
		}
	}
	// Every step ran on the node that knows the project.
	var elsewhere int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed' AND kind LIKE 'dmfpipe.%'
		AND attempted_by[array_length(attempted_by, 1)] = $1`, stranger.ID()).Scan(&elsewhere))
	assert.Zero(t, elsewhere)
}

// A foreground run works its own job's steps itself: a serve node with the same project
// never takes them.
func TestAForegroundRunWorksItsOwnSteps(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 500, lanes: 2})
	ctx := t.Context()
	run := startTestWorker(t, b.pool, b.w.cfg, slog.New(slog.DiscardHandler), func(d *Deps) { d.Foreground = testProject })
	b.drop(t, "customers_f.csv", testsvc.CustomersCSV(2000, nil))
	ids, err := run.StartJob(ctx, testProject, []string{"customers_f.csv"}, imports.TriggerRun, false)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, err := run.WaitJob(wctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	var byServe, byRun int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE attempted_by[array_length(attempted_by, 1)] = $1),
		count(*) FILTER (WHERE attempted_by[array_length(attempted_by, 1)] = $2)
		FROM river_job WHERE kind LIKE 'dmfpipe.%'`, b.w.ID(), run.ID()).Scan(&byServe, &byRun))
	assert.Zero(t, byServe, "the serve node took a step of the foreground run's job")
	assert.Positive(t, byRun)
}

// A job started with one version of a project is left to a node that has that version;
// when none is left, a node with the new settings goes on with them and says so.
func TestAJobWhoseProjectChangedGoesOnWithTheNewVersion(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 500, lanes: 1})
	ctx := t.Context()
	hist := jobhistory.NewStore(b.pool)
	changed := otherConfig(t, b, func(yaml string) string {
		return strings.Replace(yaml, "PARTYTYPE:         { const: Organization }", "PARTYTYPE:         { const: Organization } # v2\n      ADDRESSCITY: { const: Gent }", 1)
	})
	newer := newTestWorker(t, b.pool, changed, slog.New(slog.DiscardHandler))
	b.drop(t, "customers_v.csv", testsvc.CustomersCSV(600, nil))
	ids, err := b.w.StartJob(ctx, testProject, []string{"customers_v.csv"}, imports.TriggerRun, false)
	require.NoError(t, err)
	s := b.wait(t, ids[0])
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)

	// The same file again, forced, while only a node with the new settings runs.
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, b.w.Stop(stopCtx))
	require.NoError(t, newer.Start(ctx))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, newer.Stop(stopCtx))
	})
	j, err := hist.Job(ctx, ids[0])
	require.NoError(t, err)
	old := j.ProjectVersion
	b.drop(t, "customers_v2.csv", testsvc.CustomersCSV(600, nil))
	forced, err := b.w.stages.Start(ctx, testProject, []string{"customers_v2.csv"}, false, imports.TriggerRun, true)
	require.NoError(t, err)
	s, err = newer.WaitJob(ctx, forced[0])
	require.NoError(t, err)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	j, err = hist.Job(ctx, forced[0])
	require.NoError(t, err)
	assert.NotEqual(t, old, j.ProjectVersion, "the job goes on with the new version")
	events, err := hist.Events(ctx, forced[0])
	require.NoError(t, err)
	var said bool
	for _, e := range events {
		said = said || strings.Contains(e.Message, "changed since this job started")
	}
	assert.True(t, said)
}

// otherConfig is b's configuration rewritten by edit, loaded.
func otherConfig(t *testing.T, b *testBundle, edit func(string) string) *config.Config {
	t.Helper()
	raw, err := os.ReadFile(b.w.cfg.Files[0])
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(path, []byte(edit(string(raw))), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	return cfg
}
