package scheduler

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// migratedDB returns a pool on a fresh database with dmfpipe's and River's schema.
func migratedDB(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	return testsvc.MigratedDatabase(t)
}

func TestStore(t *testing.T) {
	t.Parallel()
	pool, _ := migratedDB(t)
	ctx := t.Context()
	store := &Store{DB: pool, Projects: []*config.Project{
		{Name: "nightly", Schedule: "0 2 * * *"},
		{Name: "dormant", Schedule: "0 3 * * *", Paused: true},
	}}

	paused := func(project string) bool {
		t.Helper()
		p, err := store.Paused(ctx, project)
		require.NoError(t, err)
		return p
	}
	shouldRun := func(args DiscoverArgs) (bool, string) {
		t.Helper()
		ok, reason, err := ShouldRun(ctx, store, args)
		require.NoError(t, err)
		return ok, reason
	}
	tick := func(project string) DiscoverArgs {
		return DiscoverArgs{Project: project, Trigger: TriggerSchedule, FireTime: utc(1, 1, 2, 0)}
	}
	runNow := func(project string) DiscoverArgs { return DiscoverArgs{Project: project, Trigger: TriggerRunNow} }

	// With no rows, the configuration decides.
	assert.False(t, paused("nightly"))
	assert.True(t, paused("dormant"))
	ok, _ := shouldRun(tick("nightly"))
	assert.True(t, ok)
	ok, reason := shouldRun(tick("dormant"))
	assert.False(t, ok)
	assert.Contains(t, reason, "paused")
	ok, _ = shouldRun(runNow("dormant"))
	assert.True(t, ok, "run-now bypasses the pause")

	states, err := store.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []ProjectState{
		{Name: "nightly", FromConfig: true, Configured: true},
		{Name: "dormant", Paused: true, FromConfig: true, Configured: true},
	}, states)

	// Pause and Resume override the configuration.
	require.NoError(t, store.Pause(ctx, "nightly", "alice@example.com"))
	require.NoError(t, store.Resume(ctx, "dormant"))
	assert.True(t, paused("nightly"))
	assert.False(t, paused("dormant"))
	ok, reason = shouldRun(tick("nightly"))
	assert.False(t, ok)
	assert.Contains(t, reason, `"nightly" is paused`)
	ok, _ = shouldRun(runNow("nightly"))
	assert.True(t, ok)
	ok, _ = shouldRun(tick("dormant"))
	assert.True(t, ok)

	states, err = store.List(ctx)
	require.NoError(t, err)
	require.Len(t, states, 2)
	assert.Equal(t, "nightly", states[0].Name)
	assert.True(t, states[0].Paused)
	assert.Equal(t, "alice@example.com", states[0].PausedBy)
	assert.False(t, states[0].FromConfig)
	assert.False(t, states[0].UpdatedAt.IsZero())
	assert.Equal(t, "dormant", states[1].Name)
	assert.False(t, states[1].Paused)
	assert.Empty(t, states[1].PausedBy)

	// Pausing again records the new author; resuming clears it.
	require.NoError(t, store.Pause(ctx, "nightly", "bob"))
	states, err = store.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, "bob", states[0].PausedBy)
	require.NoError(t, store.Resume(ctx, "nightly"))
	assert.False(t, paused("nightly"))

	// A project removed from the configuration: its row is listed as not configured, its
	// ticks are skipped, and it cannot be paused or resumed.
	smaller := &Store{DB: pool, Projects: store.Projects[1:]}
	states, err = smaller.List(ctx)
	require.NoError(t, err)
	require.Len(t, states, 2)
	assert.Equal(t, "dormant", states[0].Name)
	assert.Equal(t, "nightly", states[1].Name)
	assert.False(t, states[1].Configured)
	ok, reason, err = ShouldRun(ctx, smaller, tick("nightly"))
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Contains(t, reason, "not in the configuration")
	require.ErrorIs(t, smaller.Pause(ctx, "nightly", "x"), ErrUnknownProject)
	require.ErrorIs(t, smaller.Resume(ctx, "nightly"), ErrUnknownProject)
	_, err = smaller.Paused(ctx, "nightly")
	require.ErrorIs(t, err, ErrUnknownProject)

	_, _, err = ShouldRun(ctx, store, DiscoverArgs{Project: "nightly", Trigger: "cosmic-ray"})
	require.ErrorIs(t, err, ErrUnknownTrigger)
}

func TestStoreDatabaseErrors(t *testing.T) {
	t.Parallel()
	pool, _ := migratedDB(t)
	pool.Close()
	store := &Store{DB: pool, Projects: []*config.Project{{Name: "p"}}}
	ctx := context.Background()
	assert.ErrorContains(t, store.Pause(ctx, "p", "x"), `recording pause state of project "p"`)
	_, err := store.Paused(ctx, "p")
	assert.ErrorContains(t, err, `reading pause state of project "p"`)
	_, err = store.List(ctx)
	assert.ErrorContains(t, err, "listing project states")
	_, _, err = ShouldRun(ctx, store, DiscoverArgs{Project: "p", Trigger: TriggerSchedule})
	assert.Error(t, err)
}
