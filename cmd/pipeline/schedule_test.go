package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

func TestProjectsPauseResumeRunNow(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	cfg := "../../examples/pipeline.yaml"
	cli := func(args ...string) (string, int) {
		return runCLI(t, append(append([]string{"projects"}, args...), "-c", cfg, "--database-url", dbURL)...)
	}

	out, code := cli("list")
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `customers-csv\s+import\s+0 2 \* \* \*\s+Europe/Amsterdam\s+active\s+20`, out)
	assert.Regexp(t, `open-orders-export\s+export\s+\*/30 \* \* \* \*\s+UTC\s+active`, out)

	out, code = cli("pause", "customers-csv")
	require.Equal(t, 0, code, out)
	out, code = cli("list")
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `customers-csv\s+import\s+.*paused by \S+`, out)

	out, code = cli("resume", "customers-csv")
	require.Equal(t, 0, code, out)
	out, _ = cli("list")
	assert.Regexp(t, `customers-csv\s+import\s+.*active`, out)

	out, code = cli("run-now", "vendors-xlsx")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "project vendors-xlsx: discovery queued")
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT count(*) FROM river_job WHERE kind = 'dmfpipe.discover' AND args->>'project' = 'vendors-xlsx' AND args->>'trigger' = 'run_now'`).Scan(&n))
	assert.Equal(t, 1, n)

	out, code = cli("pause", "nope")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `no project "nope"`)
}
