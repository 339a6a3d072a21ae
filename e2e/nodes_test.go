package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// `pipeline run -c other.yaml PROJECT` beside a running `serve` on another config, one
// database: the run's job is its own; serve neither takes nor fails it.
func TestRunOfAProjectServeDoesNotKnow(t *testing.T) {
	t.Parallel()
	const n = 20_000
	srv := testsvc.SFTP(t)
	dbURL := testsvc.Database(t)
	em := startEmulator(t)
	serveCfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: "served", chunkRows: 5_000, lanes: 2})
	runCfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: "projb", chunkRows: 5_000, lanes: 2})
	migrate(t, serveCfg)
	db := openDB(t, dbURL)
	startServe(t, "serve", serveCfg)

	dir := t.TempDir()
	customersCSV(t, dir, "customers.csv", "R", n)
	run := start(t, "run", "run", "-c", runCfg, "projb", "--file", filepath.Join(dir, "customers.csv"))
	run.waitExit(t, 120*time.Second)

	js := jobs(t, db, "projb")
	require.Len(t, js, 1)
	require.Equal(t, "succeeded", js[0].Status, "job error: %v", js[0].Error)
	assert.EqualValues(t, n, js[0].RowsImported)
	assertRows(t, em, "R", n)
	var failedByServe int
	require.NoError(t, db.QueryRow(t.Context(), `SELECT count(*) FROM job_events WHERE job_id = $1 AND message LIKE '%not in the configuration%'`,
		js[0].ID).Scan(&failedByServe))
	assert.Zero(t, failedByServe)
}

// Two serve nodes whose configurations have different projects (a rolling deploy, or a
// split of the work) share one database: each project's jobs end on the node that knows
// it, and neither node fails the other's.
func TestServeNodesWithDifferentProjects(t *testing.T) {
	t.Parallel()
	const n = 10_000
	srvA, srvB := testsvc.SFTP(t), testsvc.SFTP(t)
	dbURL := testsvc.Database(t)
	em := startEmulator(t)
	cfgA := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srvA, project: "only-a", chunkRows: 2_500, lanes: 2})
	cfgB := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srvB, project: "only-b", chunkRows: 2_500, lanes: 2})
	migrate(t, cfgA)
	db := openDB(t, dbURL)
	customersCSV(t, filepath.Join(srvA.Root, "in"), "a.csv", "A", n)
	customersCSV(t, filepath.Join(srvB.Root, "in"), "b.csv", "B", n)
	startServe(t, "serve-a", cfgA)
	startServe(t, "serve-b", cfgB)

	t.Cleanup(func() {
		if t.Failed() {
			logQueue(t, db)
		}
	})
	for _, project := range []string{"only-a", "only-b"} {
		js := waitJobs(t, db, project, 1, 180*time.Second)
		require.Len(t, js, 1, project)
		require.Equal(t, "succeeded", js[0].Status, "%s: job error: %v", project, js[0].Error)
		assert.EqualValues(t, n, js[0].RowsImported, project)
	}
	assert.Len(t, em.accounts(t), 2*n)
	rows, err := db.Query(context.WithoutCancel(t.Context()), `SELECT message FROM job_events WHERE level = 'error'`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var msg string
		require.NoError(t, rows.Scan(&msg))
		assert.False(t, strings.Contains(msg, "configuration"), "an error event: %s", msg)
	}
}
