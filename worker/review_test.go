package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

func field(s string) *string { return &s }

// A job that ended partially succeeded: operators fix rows (one inline, the others by a
// bulk edit over F&O's rejections), set one aside, and resubmit; the fixed rows go to
// F&O as new chunks of the same job, which ends succeeded, and F&O holds each row once.
func TestResubmitFixedRowsEndsTheJobSucceeded(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 2})
	ctx := t.Context()
	b.drop(t, "customers_r.csv", testsvc.CustomersCSV(300, func(i int, account, group *string) {
		switch {
		case i%50 == 7:
			*group = "99" // F&O has no such customer group
		case i == 20:
			*group = "" // our rules want one
		case i == 30:
			*account = "c000029" // a repeat of row 29
		}
	}))
	s := b.startOne(t, "customers_r.csv", false)
	require.Equal(t, jobhistory.JobPartiallySucceeded, s.Status, s.Error)
	assert.Equal(t, jobhistory.JobCounts{Read: 300, Staged: 300, Invalid: 2, Uploaded: 298, Imported: 292, Rejected: 6}, s.Counts)
	st := staging.NewStore(b.pool)
	stages := b.w.Stages()

	// Resubmitting before anything is fixed sends nothing.
	_, err := stages.Resubmit(ctx, "alice", s.ID, false)
	require.ErrorIs(t, err, imports.ErrNothingToSend)

	// Inline edits: row 20 gets its group; row 30 a new account, which re-validation
	// checks against the job's other rows.
	r, e, err := stages.EditRow(ctx, "alice", s.ID, 30, []staging.FieldValue{{Field: "CUSTOMERACCOUNT", Value: "C000002"}})
	require.NoError(t, err)
	assert.Equal(t, staging.StatusInvalid, r.Status, "C000002 is row 2's")
	assert.Equal(t, "duplicate of line 3 (CUSTOMERACCOUNT)", r.Errors[0].Msg)
	assert.Equal(t, jobhistory.EntryDone, e.State)
	r, _, err = stages.EditRow(ctx, "alice", s.ID, 30, []staging.FieldValue{{Field: "CUSTOMERACCOUNT", Value: "C000030"}})
	require.NoError(t, err)
	assert.Equal(t, staging.StatusFixed, r.Status, "%v", r.Errors)
	r, _, err = stages.EditRow(ctx, "alice", s.ID, 20, []staging.FieldValue{{Field: "CUSTOMERGROUPID", Value: "10"}})
	require.NoError(t, err)
	assert.Equal(t, staging.StatusFixed, r.Status)
	_, _, err = stages.EditRow(ctx, "alice", s.ID, 1, []staging.FieldValue{{Field: "CUSTOMERGROUPID", Value: "10"}})
	require.ErrorIs(t, err, staging.ErrNotEditable, "an imported row is not open")

	// One of F&O's rejections set aside, the others fixed in bulk.
	_, _, err = stages.RejectRow(ctx, "bob", s.ID, 57, "the customer left")
	require.NoError(t, err)
	e, err = stages.Act(ctx, "bob", s.ID, imports.Action{Kind: jobhistory.ActionEdit,
		Filter: staging.Filter{Error: &staging.ErrorMatch{Rule: staging.RuleFO}},
		Set:    []staging.FieldValue{{Field: "CUSTOMERGROUPID", Value: "30"}}})
	require.NoError(t, err)
	assert.Equal(t, jobhistory.EntryDone, e.State, "a few rows are edited in the caller")
	assert.EqualValues(t, 5, e.Rows)
	assert.EqualValues(t, 5, e.Matched)
	c, err := st.Counts(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 300, Imported: 292, Fixed: 7, Skipped: 1}, c)
	groups, err := st.ErrorSummary(ctx, s.ID)
	require.NoError(t, err)
	assert.Empty(t, groups, "every open error was dealt with")

	a, err := stages.Resubmit(ctx, "alice", s.ID, false)
	require.NoError(t, err)
	assert.Equal(t, imports.NewAttempt{Job: a.Job, Attempt: 2, Rows: 7, FirstChunk: 4, Chunks: 1}, a)
	_, err = stages.Resubmit(ctx, "alice", s.ID, false)
	require.ErrorIs(t, err, imports.ErrJobRunning)
	s = b.wait(t, s.ID)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Equal(t, jobhistory.JobCounts{Read: 300, Staged: 300, Uploaded: 299, Imported: 299, Skipped: 1}, s.Counts)
	assert.Equal(t, 4, s.Chunks)

	// F&O holds every row but the one set aside, once.
	rows := b.em.Rows(testEntity, testLE)
	assert.Len(t, rows, 299)
	byAccount := map[string]map[string]string{}
	for _, row := range rows {
		byAccount[row["CUSTOMERACCOUNT"]] = row
	}
	assert.Len(t, byAccount, 299)
	assert.Equal(t, "30", byAccount["C000007"]["CUSTOMERGROUPID"])
	assert.Equal(t, "10", byAccount["C000020"]["CUSTOMERGROUPID"])
	assert.Contains(t, byAccount, "C000030")
	assert.NotContains(t, byAccount, "C000057")
	emu := b.em.Stats()
	assert.Zero(t, emu.Updates, "no row sent twice")
	assert.EqualValues(t, 4, emu.ImportCalls)
	assert.Empty(t, emu.ProtocolViolations)

	hist := jobhistory.NewStore(b.pool)
	ids, err := hist.ExecutionIDs(ctx, s.ID)
	require.NoError(t, err)
	assert.Contains(t, ids, b.executionID(t, s.ID, 4, 1), "the new chunk's execution id follows the others'")
	attempts, err := hist.Attempts(ctx, s.ID)
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	assert.Equal(t, jobhistory.Attempt{Job: s.ID, No: 2, Trigger: "resubmit", Actor: "alice", FirstChunk: 4, Chunks: 1, Rows: 7,
		At: attempts[0].At}, attempts[0])
	r, err = st.Row(ctx, s.ID, 7)
	require.NoError(t, err)
	assert.Equal(t, staging.StatusImported, r.Status)
	assert.Equal(t, 2, r.Attempt)
	assert.NotEmpty(t, r.Resolved, "F&O's first verdict stays on the row, resolved")

	// The audit trail, per job and per row.
	audit := jobhistory.NewAudit(b.pool)
	entries, err := audit.JobEntries(ctx, s.ID, 0, 100)
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Actor+" "+e.Action)
	}
	assert.Equal(t, []string{"alice resubmit", "bob edit", "bob reject", "alice edit", "alice edit", "alice edit"}, actions)
	assert.JSONEq(t, `{"error":{"rule":"fo"}}`, string(entries[1].Selection), "the selection as the operator made it")
	assert.Equal(t, map[string]string{"CUSTOMERGROUPID": "30"}, entries[1].Set)
	history, err := audit.RowEntries(ctx, s.ID, 30)
	require.NoError(t, err)
	require.Len(t, history, 2)
	assert.Equal(t, jobhistory.RowChange{Row: 30, Before: map[string]string{"CUSTOMERACCOUNT": "C000029"}, From: "invalid", To: "invalid"}, history[0].Change)
	assert.Equal(t, jobhistory.RowChange{Row: 30, Before: map[string]string{"CUSTOMERACCOUNT": "C000002"}, From: "invalid", To: "fixed"}, history[1].Change)
	history, err = audit.RowEntries(ctx, s.ID, 57)
	require.NoError(t, err)
	require.Len(t, history, 1)
	assert.Equal(t, "the customer left", history[0].Reason)
}

// An action over more rows than run in the caller is a background step whose entry
// shows its progress; the rows' statuses and the error groups follow.
func TestLargeActionRunsInTheBackground(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 5000, lanes: 1})
	ctx := t.Context()
	n := imports.InlineRows + 1500
	b.drop(t, "customers_big.csv", testsvc.CustomersCSV(n+10, func(i int, _, group *string) {
		if i > 10 {
			*group = ""
		}
	}))
	// Too many invalid rows for max_error_rate 0.5: nothing is sent.
	s := b.startOne(t, "customers_big.csv", false)
	require.Equal(t, jobhistory.JobFailed, s.Status)
	stages := b.w.Stages()

	e, err := stages.Act(ctx, "carol", s.ID, imports.Action{Kind: jobhistory.ActionEdit,
		Filter: staging.Filter{Error: &staging.ErrorMatch{Field: field("CUSTOMERGROUPID"), Rule: "required"}},
		Set:    []staging.FieldValue{{Field: "CUSTOMERGROUPID", Value: "20"}}})
	require.NoError(t, err)
	assert.Equal(t, jobhistory.EntryPending, e.State)
	require.Eventually(t, func() bool {
		e, err = stages.Entry(ctx, e.ID)
		return err == nil && e.Done()
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, jobhistory.EntryDone, e.State, e.Error)
	assert.EqualValues(t, n, e.Matched)
	assert.EqualValues(t, n, e.Rows)
	outcomes, err := jobhistory.NewAudit(b.pool).Outcomes(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"fixed": int64(n)}, outcomes)
	c, err := staging.NewStore(b.pool).Counts(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: int64(n + 10), Valid: 10, Fixed: int64(n)}, c)

	// The failed job's valid rows, never sent, go with the fixed ones.
	a, err := stages.Resubmit(ctx, "carol", s.ID, false)
	require.NoError(t, err)
	assert.EqualValues(t, n+10, a.Rows)
	s = b.wait(t, s.ID)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Empty(t, s.Error, "the first attempt's error is on the timeline, not on the job")
	assert.Len(t, b.em.Rows(testEntity, testLE), n+10)
}

// A job stuck in F&O is canceled (its steps stopped through River, its rows not
// imported); once F&O works again, a retry sends them as a new attempt.
func TestCancelThenRetry(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 50, lanes: 1, poll: "{ initial: 50ms, max: 100ms, deadline: 10m }",
		faults: emulator.Faults{StuckExecuting: true}})
	ctx := t.Context()
	b.drop(t, "customers_s.csv", testsvc.CustomersCSV(100, nil))
	ids, err := b.w.StartJob(ctx, testProject, []string{"customers_s.csv"}, imports.TriggerRun, false)
	require.NoError(t, err)
	hist := jobhistory.NewStore(b.pool)
	// One chunk's execution is stuck in F&O, the other's waits behind it.
	require.Eventually(t, func() bool {
		cs, err := hist.Chunks(ctx, ids[0])
		return err == nil && len(cs) == 2 && (cs[0].Status == jobhistory.ChunkImporting || cs[1].Status == jobhistory.ChunkImporting)
	}, 30*time.Second, 20*time.Millisecond)
	stages := b.w.Stages()

	_, err = stages.Retry(ctx, "dave", ids[0], false)
	require.NoError(t, err, "a running job's retry hurries its steps")
	res, err := stages.Cancel(ctx, "dave", ids[0])
	require.NoError(t, err)
	assert.Equal(t, jobhistory.JobCanceled, res.Job.Status)
	assert.Positive(t, res.Steps)
	assert.EqualValues(t, 100, res.NotImported)
	assert.Equal(t, "canceled by dave", res.Job.Error)
	_, err = stages.Cancel(ctx, "dave", ids[0])
	require.ErrorIs(t, err, imports.ErrJobEnded)
	cs, err := hist.Chunks(ctx, ids[0])
	require.NoError(t, err)
	for _, c := range cs {
		assert.Equal(t, jobhistory.ChunkCanceled, c.Status)
	}
	require.Eventually(t, func() bool {
		var open int
		return b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')
			AND kind <> 'dmfpipe.bulk'`).Scan(&open) == nil && open == 0
	}, 10*time.Second, 20*time.Millisecond, "no step of the job is left")
	errs, err := staging.NewStore(b.pool).ErrorPage(ctx, ids[0], staging.Filter{Rows: []int64{1, 51}}, 0, 2)
	require.NoError(t, err)
	require.Len(t, errs, 2)
	assert.Regexp(t, `canceled by dave while chunk 1 was (uploading|importing): whether F&O imported this row is unknown`, errs[0].Msg)
	assert.Regexp(t, `canceled by dave while chunk 2 was (uploading|importing)`, errs[1].Msg)

	// F&O's administrators end the stuck executions; F&O works again.
	for _, ex := range b.em.Executions() {
		b.em.CancelExecution(ex.ID)
	}
	b.em.SetFaults(emulator.Faults{})
	r, err := stages.Retry(ctx, "dave", ids[0], false)
	require.NoError(t, err)
	require.NotNil(t, r.Attempt)
	assert.Equal(t, 2, r.Attempt.Attempt)
	assert.EqualValues(t, 100, r.Attempt.Rows)
	assert.Equal(t, 3, r.Attempt.FirstChunk)
	s := b.wait(t, ids[0])
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Len(t, b.em.Rows(testEntity, testLE), 100)
	_, err = stages.Retry(ctx, "dave", ids[0], false)
	require.ErrorIs(t, err, imports.ErrNothingToSend)
	entries, err := jobhistory.NewAudit(b.pool).JobEntries(ctx, ids[0], 0, 10)
	require.NoError(t, err)
	require.Len(t, entries, 3)
	assert.Equal(t, []string{"retry", "cancel", "retry"}, []string{entries[0].Action, entries[1].Action, entries[2].Action})
	assert.Equal(t, fmt.Sprint(2), fmt.Sprint(entries[0].Attrs["attempt"]))
}
