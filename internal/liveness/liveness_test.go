package liveness_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/liveness"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// TestRiverSchemaIsWhatReclaimUses pins what Reclaim reads and writes in River's schema:
// a River upgrade that renames a column, changes its type or a job state fails here
// before it can break reclaiming in production.
func TestRiverSchemaIsWhatReclaimUses(t *testing.T) {
	t.Parallel()
	pool, _ := testsvc.MigratedDatabase(t)
	ctx := t.Context()

	rows, err := pool.Query(ctx, `SELECT column_name, udt_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'river_job'`)
	require.NoError(t, err)
	columns := map[string]string{}
	var name, typ string
	_, err = pgx.ForEachRow(rows, []any{&name, &typ}, func() error { columns[name] = typ; return nil })
	require.NoError(t, err)
	for col, want := range map[string]string{
		"id": "int8", "kind": "text", "args": "jsonb", "attempt": "int2", "max_attempts": "int2",
		"metadata": "jsonb", "state": "river_job_state", "attempted_by": "_text", "errors": "_jsonb",
		"finalized_at": "timestamptz", "scheduled_at": "timestamptz", "queue": "text",
	} {
		assert.Equal(t, want, columns[col], "river_job.%s", col)
	}

	rows, err = pool.Query(ctx, `SELECT unnest(enum_range(NULL::river_job_state))::text`)
	require.NoError(t, err)
	states, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, s := range []rivertype.JobState{rivertype.JobStateRunning, rivertype.JobStateAvailable,
		rivertype.JobStateCancelled, rivertype.JobStateDiscarded} {
		assert.Contains(t, states, string(s))
	}
}

func TestLockTellsLiveFromDead(t *testing.T) {
	t.Parallel()
	pool, _ := testsvc.MigratedDatabase(t)
	ctx := t.Context()

	alive, err := liveness.Alive(ctx, pool, "node-a")
	require.NoError(t, err)
	assert.False(t, alive, "a node that never took its lock is dead")

	lock, err := liveness.Take(ctx, pool.Config().ConnConfig, "node-a", time.Second)
	require.NoError(t, err)
	alive, err = liveness.Alive(ctx, pool, "node-a")
	require.NoError(t, err)
	assert.True(t, alive)

	_, err = liveness.Take(ctx, pool.Config().ConnConfig, "node-a", 200*time.Millisecond)
	require.Error(t, err, "a second live process with the same ID is refused")

	require.NoError(t, lock.Release(context.Background()))
	// The refused process's session may still be queued for the lock on the server for a
	// moment after its client gave up: it gets the lock and ends.
	assert.Eventually(t, func() bool {
		alive, err := liveness.Alive(ctx, pool, "node-a")
		return err == nil && !alive
	}, 5*time.Second, 20*time.Millisecond)
}

func TestReclaimTakesOnlyTheJobsOfDeadNodes(t *testing.T) {
	t.Parallel()
	pool, _ := testsvc.MigratedDatabase(t)
	ctx := t.Context()

	live, err := liveness.Take(ctx, pool.Config().ConnConfig, "live", time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = live.Release(context.Background()) })

	insert := func(owner string, attempt, maxAttempts int) int64 {
		var id int64
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO river_job (kind, args, state, attempt, max_attempts, attempted_at, attempted_by, queue)
			VALUES ('test.kind', '{}', 'running', $1, $2, now(), ARRAY[$3], 'default') RETURNING id`,
			attempt, maxAttempts, owner).Scan(&id))
		return id
	}
	ofLive := insert("live", 1, 5)
	ofDead := insert("dead", 1, 5)
	spent := insert("dead", 5, 5)
	other := insert("dead", 1, 5)
	_, err = pool.Exec(ctx, `UPDATE river_job SET kind = 'other.kind' WHERE id = $1`, other)
	require.NoError(t, err)

	got, err := liveness.Reclaim(ctx, pool, []string{"test.kind"}, "reclaimer", "")
	require.NoError(t, err)
	states := map[int64]rivertype.JobState{}
	for _, r := range got {
		assert.Equal(t, "dead", r.Owner)
		states[r.ID] = r.State
	}
	assert.Equal(t, map[int64]rivertype.JobState{ofDead: rivertype.JobStateAvailable, spent: rivertype.JobStateDiscarded}, states)

	var state string
	require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, ofLive).Scan(&state))
	assert.Equal(t, "running", state, "a live node's job is never touched")
	require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, other).Scan(&state))
	assert.Equal(t, "running", state, "kinds not asked for are left alone")
}
