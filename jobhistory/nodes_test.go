package jobhistory_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

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
