package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// Three serve processes on one database: each tick of a project's schedule inserts one
// discover across the cluster, and each file dropped before a tick is imported once.
func TestClusterFiresEachTickOnce(t *testing.T) {
	t.Parallel()
	const (
		project = "customers-cluster"
		n       = 10_000
	)
	srv := testsvc.SFTP(t)
	dbURL := testsvc.Database(t)
	em := startEmulator(t)
	cfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: project,
		chunkRows: 5_000, lanes: 2})
	migrate(t, cfg)
	in := filepath.Join(srv.Root, "in")
	customersCSV(t, in, "batch_1.csv", "A", n)
	db := openDB(t, dbURL)
	for i := range 3 {
		startServe(t, fmt.Sprintf("serve-%d", i+1), cfg)
	}

	// The leader fires the latest tick on start (or the next one comes): batch_1 is taken.
	js := waitJobs(t, db, project, 1, 100*time.Second)
	require.Len(t, js, 1)
	require.Equal(t, "succeeded", js[0].Status, "job error: %v", js[0].Error)
	// The next tick takes batch_2.
	customersCSV(t, in, "batch_2.csv", "B", n)
	js = waitJobs(t, db, project, 2, 100*time.Second)
	require.Len(t, js, 2, "one job per file")
	var ticks []time.Time
	for _, j := range js {
		require.Equal(t, "succeeded", j.Status, "job %d error: %v", j.ID, j.Error)
		assert.Equal(t, "schedule", j.Trigger)
		require.NotNil(t, j.ScheduledFor, "job %d records its tick", j.ID)
		assert.EqualValues(t, n, j.RowsImported)
		ticks = append(ticks, *j.ScheduledFor)
	}
	assert.True(t, ticks[1].After(ticks[0]), "the files were taken at two ticks: %v", ticks)

	// Every tick fired so far inserted exactly one discover, whichever node led.
	rows, err := db.Query(t.Context(), `SELECT (args->>'fire_time')::timestamptz, count(*) FROM river_job
		WHERE kind = 'dmfpipe.discover' AND args->>'project' = $1 AND args->>'trigger' = 'schedule'
		GROUP BY 1 ORDER BY 1`, project)
	require.NoError(t, err)
	fired := map[time.Time]int{}
	for rows.Next() {
		var (
			at time.Time
			n  int
		)
		require.NoError(t, rows.Scan(&at, &n))
		fired[at.UTC()] = n
	}
	require.NoError(t, rows.Err())
	for at, count := range fired {
		assert.Equal(t, 1, count, "discovers for the tick at %s", at)
	}
	for _, tick := range ticks {
		assert.Contains(t, fired, tick.UTC(), "the tick of a job has its discover")
	}

	st := em.stats(t)
	assert.EqualValues(t, 2*n, st.Inserts)
	assert.Zero(t, st.Updates, "no row was upserted twice")
	assert.ElementsMatch(t, []string{"batch_1.csv", "batch_2.csv"}, listDir(t, filepath.Join(srv.Root, "archive")))
}

// Killing the node that runs an import's ingest does not stop the import: another node
// takes the job over, and every row arrives once.
func TestClusterImportSurvivesKilledNode(t *testing.T) {
	t.Parallel()
	const (
		project = "customers-kill"
		n       = 100_000
		chunks  = 20
	)
	srv := testsvc.SFTP(t)
	dbURL := testsvc.Database(t)
	em := startEmulator(t)
	cfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: project,
		chunkRows: n / chunks, lanes: 2})
	migrate(t, cfg)
	db := openDB(t, dbURL)
	in := filepath.Join(srv.Root, "in")
	require.NoError(t, os.Mkdir(in, 0o755))
	host, err := os.Hostname()
	require.NoError(t, err)
	nodes := map[string]*proc{} // by River client ID, as serve names it
	for i := range 3 {
		p := startServe(t, fmt.Sprintf("serve-%d", i+1), cfg)
		nodes[fmt.Sprintf("%s-%d", host, p.cmd.Process.Pid)] = p
	}

	// The file lands once every node runs, so that its ingest (a second or more) is seen
	// running from its start; the node running it is killed.
	customersCSV(t, in, "big.csv", "K", n)
	var (
		victim string
		ingest int64
	)
	require.Eventually(t, func() bool {
		err := db.QueryRow(t.Context(), `SELECT id, attempted_by[array_upper(attempted_by, 1)] FROM river_job
			WHERE state = 'running' AND kind = 'dmfpipe.ingest'`).Scan(&ingest, &victim)
		return err == nil
	}, 100*time.Second, 20*time.Millisecond, "the ingest was not seen running")
	require.Contains(t, nodes, victim)
	t.Logf("killing %s while it runs the ingest (River job %d)", victim, ingest)
	nodes[victim].kill()

	js := waitJobs(t, db, project, 1, 120*time.Second)
	require.Len(t, js, 1)
	require.Equal(t, "succeeded", js[0].Status, "job error: %v", js[0].Error)
	assert.EqualValues(t, n, js[0].RowsImported)
	st := em.stats(t)
	assert.EqualValues(t, n, st.Inserts)
	assert.Zero(t, st.Updates, "no row was upserted twice")
	assert.EqualValues(t, chunks, st.ImportCalls, "no execution sent twice")
	assert.Equal(t, []string{"big.csv"}, listDir(t, filepath.Join(srv.Root, "archive")))

	// The killed node's ingest was finished by another node.
	var (
		state       string
		attemptedBy []string
	)
	require.NoError(t, db.QueryRow(t.Context(), `SELECT state, attempted_by FROM river_job WHERE id = $1`, ingest).
		Scan(&state, &attemptedBy))
	assert.Equal(t, "completed", state)
	require.NotEmpty(t, attemptedBy)
	assert.NotEqual(t, victim, attemptedBy[len(attemptedBy)-1], "attempts: %v", attemptedBy)
}
