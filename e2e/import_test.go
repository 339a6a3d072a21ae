package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// A large CSV dropped on SFTP is taken by the project's schedule, imported in chunks over
// two lanes, archived on the server, and reported by email; F&O ends up with every row,
// each written once.
func TestScheduledSFTPImportInChunksOverLanes(t *testing.T) {
	t.Parallel()
	const (
		project = "customers-200k"
		n       = 200_000
		file    = "customers_200k.csv"
	)
	srv := testsvc.SFTP(t)
	dbURL := testsvc.Database(t)
	to := testsvc.Name(t) + "@example.test"
	em := startEmulator(t)
	cfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: project,
		chunkRows: 50_000, lanes: 2, notifyTo: to})
	migrate(t, cfg)
	db := openDB(t, dbURL)
	in := filepath.Join(srv.Root, "in")
	require.NoError(t, os.Mkdir(in, 0o755))
	startServe(t, "serve", cfg)
	customersCSV(t, in, file, "C", n)

	// The file lands while serve runs: the next tick (or the latest one, which serve's
	// leader fires on start, if its discover comes after the file) takes it.
	js := waitJobs(t, db, project, 1, 150*time.Second)
	require.Len(t, js, 1)
	j := js[0]
	require.Equal(t, "succeeded", j.Status, "job error: %v", j.Error)
	assert.Equal(t, "schedule", j.Trigger)
	assert.NotNil(t, j.ScheduledFor, "a scheduled job records its tick")
	assert.EqualValues(t, n, j.RowsRead)
	assert.EqualValues(t, n, j.RowsImported)
	assert.Equal(t, 4, j.Chunks)
	t.Logf("%d rows imported in %s (job %d)", n, j.Duration, j.ID)

	// One execution per chunk, spread over both lanes' definition groups.
	var lanes []string
	require.NoError(t, db.QueryRow(t.Context(), `SELECT array_agg(DISTINCT definition_group ORDER BY definition_group)
		FROM dmf_executions WHERE job_id = $1`, j.ID).Scan(&lanes))
	assert.Equal(t, []string{"E2E-CUST-L1", "E2E-CUST-L2"}, lanes)
	var executions int
	require.NoError(t, db.QueryRow(t.Context(), `SELECT count(*) FROM dmf_executions WHERE job_id = $1`, j.ID).Scan(&executions))
	assert.Equal(t, 4, executions)

	assert.Empty(t, listDir(t, in), "the file left the drop folder")
	assert.Equal(t, []string{file}, listDir(t, filepath.Join(srv.Root, "archive")))

	st := em.stats(t)
	assert.EqualValues(t, n, st.Inserts)
	assert.Zero(t, st.Updates, "no row was upserted twice")
	assert.EqualValues(t, 4, st.ImportCalls)
	assert.Empty(t, st.ProtocolViolations)
	assertRows(t, em, "C", n)

	mails := waitMail(t, to, 60*time.Second)
	require.Len(t, mails, 1)
	assert.Contains(t, mails[0].Subject, project)
}

// With the emulator answering 30% of calls 429 and 10% 5xx, a `pipeline run` of what the
// source holds still completes, and every row arrives once.
func TestImportSurvivesThrottlingAndServerErrors(t *testing.T) {
	t.Parallel()
	const (
		project = "customers-faults"
		n       = 20_000
	)
	srv := testsvc.SFTP(t)
	dbURL := testsvc.Database(t)
	// Small chunks and executions that take a few polls make well over a hundred F&O
	// calls, so that both faults are all but certain to hit.
	em := startEmulator(t, "--fault-429", "0.3", "--fault-retry-after", "100ms", "--fault-5xx", "0.1",
		"--execution-delay", "300ms")
	cfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: project,
		chunkRows: 1_000, lanes: 2})
	migrate(t, cfg)
	customersCSV(t, filepath.Join(srv.Root, "in"), "customers_faults.csv", "F", n)
	db := openDB(t, dbURL)

	// `run` imports what the source holds now, in the foreground, without a tick.
	run := start(t, "run", "run", "-c", cfg, project, "--json")
	run.waitExit(t, 150*time.Second)
	var summary struct {
		Job    int64
		Status string
		Chunks int
	}
	out, err := os.ReadFile(run.stdout)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(out, &summary), "run --json printed %s", out)
	assert.Equal(t, "succeeded", summary.Status)
	assert.Equal(t, 20, summary.Chunks)

	js := jobs(t, db, project)
	require.Len(t, js, 1)
	require.Equal(t, "succeeded", js[0].Status, "job error: %v", js[0].Error)
	assert.Equal(t, "run", js[0].Trigger)
	assert.Equal(t, summary.Job, js[0].ID)
	assert.EqualValues(t, n, js[0].RowsImported)
	assert.Equal(t, 20, js[0].Chunks)

	st := em.stats(t)
	t.Logf("emulator: %d calls answered 429, %d answered 503, %d import calls", st.Throttled, st.Faulted, st.ImportCalls)
	assert.Positive(t, st.Throttled, "the emulator throttled some calls")
	assert.Positive(t, st.Faulted, "the emulator failed some calls")
	assert.EqualValues(t, n, st.Inserts)
	assert.Zero(t, st.Updates, "no row was upserted twice")
	assert.EqualValues(t, 20, st.ImportCalls, "no execution sent twice")
	assert.Empty(t, st.ProtocolViolations)
	assertRows(t, em, "F", n)
	assert.Equal(t, []string{"customers_faults.csv"}, listDir(t, filepath.Join(srv.Root, "archive")))
}

// assertRows checks that the emulator holds exactly the n accounts prefix0000001...
func assertRows(t *testing.T, em *emulatorProc, prefix string, n int) {
	t.Helper()
	keys := em.accounts(t)
	require.Len(t, keys, n)
	seen := make(map[string]bool, n)
	for _, k := range keys {
		assert.False(t, seen[k], "account %s twice", k)
		seen[k] = true
	}
	for _, i := range []int{1, n / 2, n} {
		k := fmt.Sprintf("%s%07d", prefix, i)
		assert.True(t, seen[k], "account %s missing", k)
	}
}
