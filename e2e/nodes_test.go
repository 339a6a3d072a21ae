package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/devstack"
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

// A PostgreSQL restart under `serve` (one node, two nodes) mid-ingest and mid-upload: the
// nodes stop working while the database is gone (/readyz says so), reconnect, and the job
// finishes without a restart of any process, every row once.
func TestServeSurvivesADatabaseRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		stage string
		nodes int
	}{
		{name: "one node mid-ingest", stage: "ingest", nodes: 1},
		{name: "one node mid-upload", stage: "upload", nodes: 1},
		{name: "two nodes mid-ingest", stage: "ingest", nodes: 2},
		{name: "two nodes mid-upload", stage: "upload", nodes: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 150_000
			pg := ownPostgres(t)
			srv := testsvc.SFTP(t)
			em := startEmulator(t, "--execution-delay", "300ms")
			project := "restart"
			cfg := writeConfig(t, configOpts{dbURL: pg.URL(), emulatorURL: em.url, sftp: srv, project: project,
				chunkRows: 25_000, lanes: 2})
			migrate(t, cfg)
			db := openDB(t, pg.URL())
			var nodes []*proc
			var bases []string
			for i := range tc.nodes {
				p := start(t, "serve-"+string(rune('a'+i)), "serve", "-c", cfg)
				bases = append(bases, p.waitOutput(t, serving, 60*time.Second)[1])
				nodes = append(nodes, p)
			}
			customersCSV(t, filepath.Join(srv.Root, "in"), "customers.csv", "P", n)
			waitStage(t, db, project, tc.stage, 120*time.Second)

			restarted := make(chan error, 1)
			go func() { restarted <- pg.Restart(t.Context(), 3*time.Second) }()
			// While the database is gone, no node says it is ready.
			deadline := time.Now().Add(30 * time.Second)
			for _, base := range bases {
				for {
					code := readyz(base)
					if code != http.StatusOK {
						break
					}
					require.True(t, time.Now().Before(deadline), "%s/readyz stayed 200 with the database down", base)
					time.Sleep(50 * time.Millisecond)
				}
			}
			require.NoError(t, <-restarted)

			js := waitJobs(t, db, project, 1, 180*time.Second)
			require.Len(t, js, 1)
			require.Equal(t, "succeeded", js[0].Status, "job error: %v", js[0].Error)
			assert.EqualValues(t, n, js[0].RowsImported)
			st := em.stats(t)
			assert.EqualValues(t, n, st.Inserts)
			assert.Zero(t, st.Updates, "no row imported twice")
			assertRows(t, em, "P", n)
			for i, p := range nodes {
				select {
				case <-p.done:
					t.Fatalf("node %d exited after the restart: %v", i, p.err)
				default:
				}
				assert.Eventually(t, func() bool { return readyz(bases[i]) == http.StatusOK }, 60*time.Second, 100*time.Millisecond,
					"node %d ready again", i)
				logs, err := os.ReadFile(p.stderr)
				require.NoError(t, err)
				assert.Contains(t, string(logs), "LOST THE DATABASE", "node %d noticed", i)
				assert.Contains(t, string(logs), "reconnected to the database", "node %d came back on its own", i)
			}
		})
	}
}

// ownPostgres is a PostgreSQL cluster of the test's own, which it may restart.
func ownPostgres(t *testing.T) *devstack.Postgres {
	t.Helper()
	dir, err := os.MkdirTemp("", "dmfpipe-e2e-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	// PostgreSQL runs as an unprivileged user when the tests run as root: it must reach it.
	require.NoError(t, os.Chmod(dir, 0o755))
	pg := devstack.NewPostgres("")
	require.NoError(t, pg.Start(t.Context(), dir))
	t.Cleanup(func() { _ = pg.Stop() })
	return pg
}

// readyz is the status of a serve node's /readyz, 0 when it does not answer.
func readyz(base string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A foreground `run` that loses its database stops and says its job resumes at the next
// run; the next run finishes it.
func TestRunThatLosesTheDatabaseResumesNextTime(t *testing.T) {
	t.Parallel()
	const n = 100_000
	pg := ownPostgres(t)
	srv := testsvc.SFTP(t)
	em := startEmulator(t, "--execution-delay", "300ms")
	project := "run-restart"
	cfg := writeConfig(t, configOpts{dbURL: pg.URL(), emulatorURL: em.url, sftp: srv, project: project, chunkRows: 20_000, lanes: 2})
	migrate(t, cfg)
	db := openDB(t, pg.URL())
	customersCSV(t, filepath.Join(srv.Root, "in"), "customers.csv", "Q", n)

	first := start(t, "run-1", "run", "-c", cfg, project)
	waitStage(t, db, project, "upload", 120*time.Second)
	require.NoError(t, pg.Restart(t.Context(), 2*time.Second))
	select {
	case <-first.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not stop after losing its database")
	}
	require.Error(t, first.err)
	logs, err := os.ReadFile(first.stderr)
	require.NoError(t, err)
	assert.Contains(t, string(logs), "resumes at the next `pipeline run")

	second := start(t, "run-2", "run", "-c", cfg, project)
	second.waitExit(t, 120*time.Second)
	js := jobs(t, db, project)
	require.Len(t, js, 1, "the second run resumed the job")
	require.Equal(t, "succeeded", js[0].Status, "job error: %v", js[0].Error)
	assertRows(t, em, "Q", n)
	assert.Zero(t, em.stats(t).Updates)
}
