package worker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/liveness"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// The helper process of the kill tests: the test binary run again with these variables
// runs one node (a started Worker) until it is killed.
const (
	envNode     = "DMFPIPE_TEST_NODE"
	envNodeDB   = "DMFPIPE_TEST_NODE_DB"
	envNodeCfg  = "DMFPIPE_TEST_NODE_CONFIG"
	nodeReady   = "DMFPIPE NODE READY"
	testReclaim = 200 * time.Millisecond
)

// newTestWorker builds a Worker with short River fetch intervals and reclaim interval;
// tune adjusts its deps.
func newTestWorker(t testing.TB, pool *pgxpool.Pool, cfg *config.Config, log *slog.Logger, tune ...func(*Deps)) *Worker {
	t.Helper()
	d := Deps{
		Pool: pool, Parts: testParts(cfg, log, nil, nil), Logger: log, ReclaimInterval: testReclaim,
		Tune: testsvc.QuickRiver,
	}
	for _, f := range tune {
		f(&d)
	}
	w, err := New(d)
	require.NoError(t, err)
	return w
}

// startTestWorker is newTestWorker, serving until the test ends.
func startTestWorker(t testing.TB, pool *pgxpool.Pool, cfg *config.Config, log *slog.Logger, tune ...func(*Deps)) *Worker {
	t.Helper()
	w := newTestWorker(t, pool, cfg, log, tune...)
	testsvc.Serve(t, w)
	return w
}

// TestNodeProcess is the node the kill tests start and kill; it does nothing otherwise.
func TestNodeProcess(t *testing.T) {
	if os.Getenv(envNode) != "1" {
		t.Skip("the helper process of the kill tests")
	}
	ctx := context.Background()
	pc, err := pgxpool.ParseConfig(os.Getenv(envNodeDB))
	require.NoError(t, err)
	pc.MaxConns = config.DefaultMaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(t, err)
	cfg, err := config.Load(os.Getenv(envNodeCfg))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := newTestWorker(t, pool, cfg, log)
	require.NoError(t, w.Start(ctx))
	fmt.Printf("%s %s\n", nodeReady, w.ID())
	select {} // until killed
}

// killEnv is one database, emulator and source folder shared by the nodes of a kill test.
type killEnv struct {
	dbURL, cfgPath, root string
	pool                 *pgxpool.Pool
	em                   *emulator.Emulator
	// w is not started: it starts jobs and reads them, the nodes work them.
	w *Worker
}

func newKillEnv(t *testing.T, chunkRows, lanes int) *killEnv {
	t.Helper()
	k := &killEnv{root: t.TempDir()}
	k.pool, k.dbURL = testsvc.MigratedDatabase(t)

	// Executions stay NotRun, then Executing, 500 ms each: long enough to kill a node
	// while ImportFromPackage waits or while a poll follows the execution.
	k.em = emulator.New(emulator.Config{ExecutionDelay: 500 * time.Millisecond, RandSeed: 7})
	srv := httptest.NewServer(k.em)
	t.Cleanup(srv.Close)
	t.Cleanup(k.em.Close)

	require.NoError(t, os.MkdirAll(filepath.Join(k.root, "in"), 0o755))
	k.cfgPath = filepath.Join(t.TempDir(), "pipeline.yaml")
	yaml := fmt.Sprintf(configTemplate, testsvc.EmulatorEnvironment("emu", srv.URL, defaultPoll),
		k.root, chunkRows, lanes, "failure", config.DefaultMaxRequestsPerMinute)
	require.NoError(t, os.WriteFile(k.cfgPath, []byte(yaml), 0o600))
	cfg, err := config.Load(k.cfgPath)
	require.NoError(t, err)
	k.w = newTestWorker(t, k.pool, cfg, slog.New(slog.DiscardHandler))
	return k
}

// node is a running helper process.
type node struct {
	cmd *exec.Cmd
	id  string
}

// startNode starts a node process and waits until its Worker has started.
func (k *killEnv) startNode(t *testing.T) *node {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "node-*.log")
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNodeProcess$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), envNode+"=1", envNodeDB+"="+k.dbURL, envNodeCfg+"="+k.cfgPath)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	n := &node{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("node %s log:\n%s", n.id, b)
		}
		logf.Close()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), nodeReady+" "); ok {
				ready <- id
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case n.id = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the node process did not start")
	}
	return n
}

// kill ends a node with SIGKILL, as a crash or the OOM killer would.
func (n *node) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Kill())
	_ = n.cmd.Wait()
}

// Kill points: each reports whether a job has reached it.
var (
	// midIngest: the ingest is COPYing the job's rows into staging (pg_stat_progress_copy
	// shows the COPY under way, past its first thousand rows).
	midIngest = func(ctx context.Context, k *killEnv, job int64) (bool, error) {
		var n int64
		err := k.pool.QueryRow(ctx, `
			SELECT coalesce(max(p.tuples_processed), 0) FROM pg_stat_progress_copy p JOIN pg_class c ON c.oid = p.relid
			WHERE c.relname = $1`, fmt.Sprintf("staging_rows_%d", job)).Scan(&n)
		return n > 1000, err
	}
	// midImport: an execution is recorded and F&O has it, but ImportFromPackage has not
	// answered (the emulator holds it NotRun).
	midImport = func(ctx context.Context, k *killEnv, job int64) (bool, error) {
		ids, err := unsubmitted(ctx, k, job)
		for _, id := range ids {
			if _, ok := k.em.Execution(id); ok {
				return true, err
			}
		}
		return false, err
	}
	// beforeImport: an execution is recorded and not sent yet (its upload waits for the
	// definition group, busy with another chunk's import).
	beforeImport = func(ctx context.Context, k *killEnv, job int64) (bool, error) {
		ids, err := unsubmitted(ctx, k, job)
		for _, id := range ids {
			if _, ok := k.em.Execution(id); !ok {
				return true, err
			}
		}
		return false, err
	}
	// midPoll: an execution is importing in F&O and being polled.
	midPoll = func(ctx context.Context, k *killEnv, job int64) (bool, error) {
		var ok bool
		err := k.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dmf_executions
			WHERE job_id = $1 AND submitted_at IS NOT NULL AND finished_at IS NULL AND polls > 0)`, job).Scan(&ok)
		return ok, err
	}
)

// unsubmitted are a job's executions recorded and not (yet) accepted by F&O.
func unsubmitted(ctx context.Context, k *killEnv, job int64) ([]string, error) {
	rows, err := k.pool.Query(ctx, `SELECT execution_id FROM dmf_executions WHERE job_id = $1 AND submitted_at IS NULL`, job)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func TestKilledNodeJobCompletesOnNextNode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		rows, chunkRows  int
		at               func(context.Context, *killEnv, int64) (bool, error)
		reclaimedStage   string // a stage that must have been reclaimed ("" when it depends on timing)
		killedWhileStage string
		// alive keeps the first node running: the second joins it, and reclaims nothing.
		alive bool
	}{
		{name: "mid-ingest", rows: 60000, chunkRows: 20000, at: midIngest, reclaimedStage: "ingest", killedWhileStage: "ingest"},
		{name: "mid-upload-before-import", rows: 3000, chunkRows: 1000, at: beforeImport, reclaimedStage: "upload"},
		{name: "mid-upload-during-import", rows: 3000, chunkRows: 1000, at: midImport, reclaimedStage: "upload"},
		{name: "mid-poll", rows: 3000, chunkRows: 1000, at: midPoll},
		{name: "live-node-not-reclaimed", rows: 3000, chunkRows: 1000, at: midImport, alive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			k := newKillEnv(t, tc.chunkRows, 2)
			require.NoError(t, os.WriteFile(filepath.Join(k.root, "in", "customers.csv"), []byte(testsvc.CustomersCSV(tc.rows, nil)), 0o644))

			first := k.startNode(t)
			ids, err := k.w.StartJob(ctx, testProject, []string{"customers.csv"}, imports.TriggerRun, false)
			require.NoError(t, err)
			require.Len(t, ids, 1)
			id := ids[0]
			hist := jobhistory.NewStore(k.pool)
			deadline := time.Now().Add(45 * time.Second)
			for {
				reached, err := tc.at(ctx, k, id)
				require.NoError(t, err)
				if reached {
					break
				}
				j, err := hist.Job(ctx, id)
				require.NoError(t, err)
				require.False(t, jobhistory.JobTerminal(j.Status), "the job ended (%s) before the kill point", j.Status)
				require.True(t, time.Now().Before(deadline), "the job never reached the kill point")
				time.Sleep(2 * time.Millisecond)
			}
			if !tc.alive {
				first.kill(t)
				j, err := hist.Job(ctx, id)
				require.NoError(t, err)
				if tc.killedWhileStage != "" {
					require.Equal(t, tc.killedWhileStage, j.Stage)
				}
				t.Logf("killed node %s with the job in stage %s", first.id, j.Stage)
			}

			second := k.startNode(t)
			require.NotEqual(t, first.id, second.id)
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			s, err := k.w.WaitJob(wctx, id)
			require.NoError(t, err)
			require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
			assert.EqualValues(t, tc.rows, s.Counts.Imported)

			// Every row imported exactly once.
			assert.Len(t, k.em.Rows(testEntity, testLE), tc.rows)
			st := k.em.Stats()
			assert.Zero(t, st.Updates, "rows imported twice")
			assert.EqualValues(t, tc.rows, st.Inserts)
			assert.Empty(t, st.ProtocolViolations)
			// No execution sent twice: one ImportFromPackage per recorded execution, and
			// every recorded execution known to F&O once.
			execIDs, err := hist.ExecutionIDs(ctx, id)
			require.NoError(t, err)
			assert.Len(t, execIDs, tc.rows/tc.chunkRows)
			assert.EqualValues(t, len(execIDs), st.ImportCalls, "ImportFromPackage calls")
			seen := map[string]int{}
			for _, ex := range k.em.Executions() {
				seen[strings.ToLower(ex.ID)]++
			}
			assert.Len(t, seen, len(execIDs))
			for _, ex := range execIDs {
				assert.Equal(t, 1, seen[strings.ToLower(ex)], "execution %s", ex)
			}

			events, err := hist.Events(ctx, id)
			require.NoError(t, err)
			reclaimed := map[string]bool{}
			for _, e := range events {
				if strings.Contains(e.Message, "reclaimed from dead node "+first.id) {
					reclaimed[e.Stage] = true
				}
				if tc.alive {
					assert.NotContains(t, e.Message, "crash")
				}
				if strings.Contains(e.Message, "crash") {
					t.Logf("event: %s", e.Message)
				}
			}
			if tc.alive {
				assert.Empty(t, reclaimed, "a live node's job was reclaimed")
				var errs int
				require.NoError(t, k.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE errors IS NOT NULL`).Scan(&errs))
				assert.Zero(t, errs, "river jobs with errors")
			}
			if tc.reclaimedStage != "" {
				assert.True(t, reclaimed[tc.reclaimedStage], "no %s reclaimed from %s in %v", tc.reclaimedStage, first.id, events)
			}
			t.Logf("stages reclaimed: %v", reclaimed)
		})
	}
}

// fakeRunning inserts a finalize job (of an import job that does not exist) and marks it
// running under the given attempts, as a node that fetched it would have.
func fakeRunning(t *testing.T, w *Worker, importJob int64, attempt, maxAttempts int, attemptedBy ...string) int64 {
	t.Helper()
	return fakeRunningArgs(t, w, FinalizeArgs{JobID: importJob}, attempt, maxAttempts, attemptedBy...)
}

func fakeRunningArgs(t *testing.T, w *Worker, args river.JobArgs, attempt, maxAttempts int, attemptedBy ...string) int64 {
	t.Helper()
	ctx := t.Context()
	res, err := w.Client().Insert(ctx, args, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = w.pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = $2, max_attempts = $3,
		attempted_at = now(), attempted_by = $4 WHERE id = $1`, res.Job.ID, attempt, maxAttempts, attemptedBy)
	require.NoError(t, err)
	return res.Job.ID
}

func riverJob(t *testing.T, pool *pgxpool.Pool, id int64) (state string, errs []string, finalized bool) {
	t.Helper()
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT state, coalesce((SELECT array_agg(e ->> 'error') FROM unnest(errors) e), '{}'),
		finalized_at IS NOT NULL FROM river_job WHERE id = $1`, id).Scan(&state, &errs, &finalized))
	return state, errs, finalized
}

func TestReclaimTakesOnlyDeadNodesJobs(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1})
	ctx := t.Context()
	other := startTestWorker(t, b.pool, b.w.cfg, slog.New(slog.DiscardHandler))
	require.NotEqual(t, b.w.ID(), other.ID())

	liveA := fakeRunning(t, b.w, 9001, 1, 10, b.w.ID())
	liveOwn := fakeRunning(t, b.w, 9002, 1, 10, "dead-earlier", other.ID())
	dead := fakeRunning(t, b.w, 9003, 1, 10, other.ID(), "dead-node-x")
	exhausted := fakeRunning(t, b.w, 9004, 10, 10, "dead-node-x")

	got, err := other.reclaim(ctx, false)
	require.NoError(t, err)
	byID := map[int64]reclaimed{}
	for _, r := range got {
		byID[r.ID] = r
	}
	require.Len(t, byID, 2, "%v", got)
	assert.Equal(t, rivertype.JobStateAvailable, byID[dead].State)
	assert.Equal(t, "dead-node-x", byID[dead].Owner)
	assert.Equal(t, rivertype.JobStateDiscarded, byID[exhausted].State)

	// Live nodes' jobs, this node's own included, are left alone.
	for _, id := range []int64{liveA, liveOwn} {
		state, errs, _ := riverJob(t, b.pool, id)
		assert.Equal(t, "running", state, "job %d", id)
		assert.Empty(t, errs)
	}
	_, errs, _ := riverJob(t, b.pool, dead)
	require.NotEmpty(t, errs)
	assert.Contains(t, errs[0], "node dead-node-x, which ran this attempt, is dead")
	state, errs, finalized := riverJob(t, b.pool, exhausted)
	assert.Equal(t, "discarded", state)
	assert.True(t, finalized)
	assert.Len(t, errs, 1)

	// An ingest out of attempts fails its import job (which then finalizes as failed).
	hist := jobhistory.NewStore(b.pool)
	importJob, err := hist.CreateJob(ctx, jobhistory.NewJob{Project: testProject, Trigger: imports.TriggerRun})
	require.NoError(t, err)
	ingest := fakeRunningArgs(t, b.w, IngestArgs{JobID: importJob}, 5, 5, "dead-node-y")
	got, err = other.reclaim(ctx, false)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, ingest, got[0].ID)
	assert.Equal(t, rivertype.JobStateDiscarded, got[0].State)
	s := b.wait(t, importJob)
	assert.Equal(t, jobhistory.JobFailed, s.Status)
	assert.Contains(t, s.Error, "dmfpipe.ingest ran out of attempts: its last one died with node dead-node-y")
	events, err := hist.Events(ctx, importJob)
	require.NoError(t, err)
	require.NotEmpty(t, events)
	assert.Equal(t, "ingest", events[0].Stage)
	assert.Contains(t, events[0].Message, "discarded: its attempts are used up")

	// A second pass, from the other node too, finds nothing more.
	got, err = b.w.reclaim(ctx, false)
	require.NoError(t, err)
	assert.Empty(t, got)

	// Once a node has stopped, its lock is free: its jobs are reclaimed.
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, other.Stop(stopCtx))
	got, err = b.w.reclaim(ctx, false)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, liveOwn, got[0].ID)
	assert.Equal(t, other.ID(), got[0].Owner)
	state, _, _ = riverJob(t, b.pool, liveA)
	assert.Equal(t, "running", state)
}

func TestLostLivenessStopsTheNode(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1})
	ctx := t.Context()
	// A foreground run's node stops for good when it loses the database (a serve node
	// reconnects: TestServeNodeReconnectsAfterLosingTheDatabase).
	w := startTestWorker(t, b.pool, b.w.cfg, slog.New(slog.DiscardHandler), func(d *Deps) { d.Foreground = testProject })
	job := fakeRunning(t, b.w, 9101, 1, 10, w.ID())
	got, err := b.w.reclaim(ctx, false)
	require.NoError(t, err)
	assert.Empty(t, got)

	// The liveness session ends (a network cut, a database restart, an admin).
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, liveness.AppName(w.ID())).Scan(&n))
	require.Equal(t, 1, n)
	select {
	case <-w.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not notice its liveness connection died")
	}
	select {
	case <-w.Client().Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not stop")
	}
	got, err = b.w.reclaim(ctx, false)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, job, got[0].ID)
}
