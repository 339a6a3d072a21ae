package migrations_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/migrations"
)

func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func TestUpAppliesEverythingOnceAndStatusAgrees(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t, testsvc.Database(t))

	pending, err := migrations.Pending(ctx, pool)
	require.NoError(t, err)
	assert.True(t, pending, "a fresh database has pending migrations")

	steps, err := migrations.Up(ctx, pool, nil)
	require.NoError(t, err)
	components := map[string]int{}
	for _, s := range steps {
		components[s.Component]++
	}
	files, err := filepath.Glob("sql/*.sql")
	require.NoError(t, err)
	assert.Equal(t, len(files), components["dmfpipe"])
	assert.Positive(t, components["river"])

	for _, table := range []string{"jobs", "source_files", "chunks", "dmf_executions", "job_events", "projects", "river_job", "river_leader"} {
		var exists bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists))
		assert.True(t, exists, "table %s", table)
	}

	again, err := migrations.Up(ctx, pool, nil)
	require.NoError(t, err)
	assert.Empty(t, again, "a second up applies nothing")

	states, err := migrations.Status(ctx, pool)
	require.NoError(t, err)
	require.Len(t, states, len(steps))
	for _, s := range states {
		assert.True(t, s.Applied, "%s %d", s.Component, s.Version)
	}
}

// Several nodes starting at once: each migration is applied by exactly one of them.
func TestConcurrentUpIsSafe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testsvc.Database(t)
	const nodes = 4
	results := make([][]migrations.Step, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		pool := newPool(t, url) // one pool per node: separate sessions
		wg.Go(func() { results[i], errs[i] = migrations.Up(ctx, pool, nil) })
	}
	wg.Wait()
	applied := map[migrations.Step]int{}
	for i := range nodes {
		require.NoError(t, errs[i], "node %d", i)
		for _, s := range results[i] {
			applied[s]++
		}
	}
	states, err := migrations.Status(ctx, newPool(t, url))
	require.NoError(t, err)
	require.Len(t, applied, len(states), "every migration applied")
	for s, n := range applied {
		assert.Equal(t, 1, n, "%s %d applied %d times", s.Component, s.Version, n)
	}
}

func TestJobHistoryConstraints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t, testsvc.Database(t))
	_, err := migrations.Up(ctx, pool, nil)
	require.NoError(t, err)

	// a scheduled tick creates at most one job per project and fire time
	const insert = `INSERT INTO jobs (project, kind, trigger, scheduled_for) VALUES ('p', 'import', 'schedule', '2026-11-25 02:00+00')`
	_, err = pool.Exec(ctx, insert)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, insert)
	require.ErrorContains(t, err, "jobs_schedule_tick_idx")

	_, err = pool.Exec(ctx, `INSERT INTO source_files (project, connection, path, size, content_sha256) VALUES ('p', 'c', 'f.csv', 1, '\x00')`)
	require.ErrorContains(t, err, "source_files_content_sha256_check", "a hash is 32 bytes")
}
