package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// `pipeline run` killed with SIGKILL mid-ingest, mid-upload and mid-poll, then started
// again: the job completes with every row imported once and no execution sent twice.
func TestRunResumesAfterSIGKILL(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"ingest", "upload", "poll"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			const n = 150_000
			project := "customers-kill-" + stage
			srv := testsvc.SFTP(t)
			dbURL := testsvc.Database(t)
			// The environment polls every 250 ms or more; closer status calls of one
			// execution (a restarted run that forgets when it last asked) are flagged.
			// Status calls claimed before they are made keep to poll.initial (250ms) from the
			// claim; a call cut short by the kill reached F&O up to its latency later, so the
			// check allows 150ms of it.
			em := startEmulator(t, "--execution-delay", "400ms", "--min-status-interval", "100ms")
			cfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: project,
				chunkRows: 25_000, lanes: 2})
			migrate(t, cfg)
			customersCSV(t, filepath.Join(srv.Root, "in"), "customers.csv", "K", n)
			db := openDB(t, dbURL)

			first := start(t, "run-1", "run", "-c", cfg, project)
			waitStage(t, db, project, stage, 60*time.Second)
			first.kill()

			second := start(t, "run-2", "run", "-c", cfg, project, "--json")
			select {
			case <-second.done:
			case <-time.After(120 * time.Second):
				logQueue(t, db)
			}
			second.waitExit(t, time.Second)
			out, err := os.ReadFile(second.stdout)
			require.NoError(t, err)
			var summary struct{ Status string }
			require.NoError(t, json.Unmarshal(lastJSON(out), &summary), "run printed %s", out)
			assert.Equal(t, "succeeded", summary.Status)

			js := jobs(t, db, project)
			require.Len(t, js, 1, "the second run resumed the job instead of starting another")
			assert.EqualValues(t, n, js[0].RowsImported)
			st := em.stats(t)
			assert.EqualValues(t, n, st.Inserts)
			assert.Zero(t, st.Updates, "no row imported twice")
			var executions int64
			require.NoError(t, db.QueryRow(t.Context(), `SELECT count(*) FROM dmf_executions`).Scan(&executions))
			assert.Equal(t, executions, st.ImportCalls, "no execution sent twice")
			assert.Empty(t, st.ProtocolViolations)
			assertRows(t, em, "K", n)
		})
	}
}

// waitStage waits until the project's job is in stage, polling fast enough to catch it.
func waitStage(t *testing.T, db *pgxpool.Pool, project, stage string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var got string
		err := db.QueryRow(t.Context(), `SELECT stage FROM jobs WHERE project = $1 ORDER BY id LIMIT 1`, project).Scan(&got)
		if err == nil && got == stage {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("project %s never reached stage %s", project, stage)
}

// lastJSON is the JSON object run printed after any progress lines.
func lastJSON(out []byte) []byte {
	for i := range out {
		if out[i] == '{' && (i == 0 || out[i-1] == '\n') {
			return out[i:]
		}
	}
	return []byte(fmt.Sprintf("%q", out))
}

// logQueue logs River's jobs, the import's jobs, chunks, executions and events, and the
// database's sessions and advisory locks: what a run that does not end is waiting for.
func logQueue(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	for _, q := range []string{
		`SELECT id, state, kind, args::text, attempt, max_attempts, attempted_by::text, scheduled_at, finalized_at, left(errors::text, 600)
		 FROM river_job ORDER BY id`,
		`SELECT * FROM river_leader`,
		`SELECT id, status, stage, chunks_total FROM jobs`,
		`SELECT job_id, chunk_no, status, lane, row_count, attempts, error FROM chunks ORDER BY job_id, chunk_no`,
		`SELECT execution_id, chunk_no, attempt, submitted_at, dmf_status, polls, finished_at FROM dmf_executions ORDER BY execution_id`,
		`SELECT at, stage, level, message FROM job_events ORDER BY id`,
		`SELECT pid, application_name, state, wait_event_type, wait_event, left(query, 100)
		 FROM pg_stat_activity WHERE datname = current_database()`,
		`SELECT objid, pid, granted FROM pg_locks WHERE locktype = 'advisory'`,
	} {
		rows, err := db.Query(context.WithoutCancel(t.Context()), q)
		if err != nil {
			t.Logf("%s: %v", q, err)
			continue
		}
		t.Logf("== %s", q)
		for rows.Next() {
			v, err := rows.Values()
			t.Logf("%v %v", v, err)
		}
		rows.Close()
	}
}

// `pipeline run` interrupted (Ctrl-C) while it uploads a package exits and leaves no
// temporary file behind; the next run finishes the job.
func TestInterruptedRunLeavesNoTemporaryFiles(t *testing.T) {
	t.Parallel()
	const n = 60_000
	project := "customers-interrupt"
	srv := testsvc.SFTP(t)
	dbURL := testsvc.Database(t)
	em := startEmulator(t, "--execution-delay", "400ms")
	cfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: project, chunkRows: 20_000, lanes: 2})
	migrate(t, cfg)
	customersCSV(t, filepath.Join(srv.Root, "in"), "customers.csv", "I", n)
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp}

	first := startEnv(t, "run-1", env, "run", "-c", cfg, project)
	packages := func() []string {
		names, err := filepath.Glob(filepath.Join(tmp, "dmfpipe-*"))
		require.NoError(t, err)
		return names
	}
	require.Eventually(t, func() bool { return len(packages()) > 0 }, 60*time.Second, 5*time.Millisecond,
		"the run never wrote a package")
	require.NoError(t, first.cmd.Process.Signal(os.Interrupt))
	select {
	case <-first.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted run did not exit")
	}
	assert.Error(t, first.err, "an interrupted run does not exit 0")
	assert.Empty(t, packages(), "temporary files left behind")

	second := startEnv(t, "run-2", env, "run", "-c", cfg, project)
	second.waitExit(t, 120*time.Second)
	assertRows(t, em, "I", n)
	assert.Empty(t, packages())
}
