package exports_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// A scheduler tick (run-now here; a cron tick takes the same path) of an export project
// starts an export job; a tick that comes while it runs is skipped and said so on its
// timeline; 429s and 5xx from F&O are retried with backoff and the export still ends.
func TestTicksStartExportsThatNeverOverlapAndRideOutThrottling(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{emulator: func(c *emulator.Config) {
		c.ExecutionDelay = 400 * time.Millisecond
		c.Faults = emulator.Faults{Rate429: 0.3, RetryAfter: 10 * time.Millisecond, Rate5xx: 0.1}
	}, projects: exportProject("ticked", "out", "ticked/{execution}/{entity}.json", "")})
	seedCustomers(b.em, "T", 40)
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "EXP-CUST", Entity: "Customers V3"})
	ctx := t.Context()

	_, err := scheduler.RunNow(ctx, b.w.Client(), "ticked")
	require.NoError(t, err)
	var id int64
	require.Eventually(t, func() bool {
		return b.pool.QueryRow(ctx, `SELECT id FROM jobs WHERE project = 'ticked'`).Scan(&id) == nil
	}, 30*time.Second, 20*time.Millisecond)
	_, err = scheduler.RunNow(ctx, b.w.Client(), "ticked")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(strings.Join(b.events(t, id), "\n"), "tick of ticked came while this job runs: skipped")
	}, 30*time.Second, 20*time.Millisecond)

	s := b.wait(t, id)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.EqualValues(t, 40, s.Rows)
	var jobs int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE project = 'ticked'`).Scan(&jobs))
	assert.Equal(t, 1, jobs, "the second tick started nothing")
	st := b.em.Stats()
	assert.Positive(t, st.Throttled+st.Faulted, "F&O throttled or failed some calls")
	assert.EqualValues(t, 1, st.ExportCalls, "one export, sent once through the retries")

	_, err = b.w.Exports().Start(context.Background(), "ticked", "run_now", time.Time{})
	require.NoError(t, err, "once the job has ended a new one starts")
	_, err = b.w.Exports().Start(context.Background(), "ticked", "run_now", time.Time{})
	var running *exports.RunningError
	require.ErrorAs(t, err, &running, "not while it runs")
	assert.ErrorIs(t, err, exports.ErrRunning)
}
