package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/scheduler"
	"github.com/dmfpipe/dmfpipe/staging"
)

const (
	testProject = "customers"
	testEntity  = "Customers V3"
	testLE      = "USMF"
)

// testBundle is one worker over its own database, emulator and source folder.
type testBundle struct {
	w    *Worker
	em   *emulator.Emulator
	pool *pgxpool.Pool
	// root is the local connection's root; files land in root/in.
	root string
	// foURL is the emulator's URL.
	foURL string
}

type testOpts struct {
	chunkRows, lanes int
	faults           emulator.Faults
	notifier         notify.Sender
	// notifyOn is the project's notify.on.
	notifyOn string
	// periodic registers the periodic jobs, as serve does.
	periodic bool
	// maxRequestsPerMinute is the environment's max_requests_per_minute (0: the default).
	maxRequestsPerMinute int
	// poll is the environment's poll schedule (default: 50ms growing to 200ms, 2m).
	poll string
	// emulator and dmf adjust the emulator's configuration and the DMF clients' options.
	emulator func(*emulator.Config)
	dmf      func(*dmf.Options)
	// sameFO makes the bundle use that bundle's emulator (another database, one F&O).
	sameFO *testBundle
	// edit, when set, rewrites the configuration's YAML.
	edit func(string) string
}

// defaultPoll is the test environments' poll schedule.
const defaultPoll = "{ initial: 50ms, max: 200ms, deadline: 2m }"

const configTemplate = `
database: { url: "postgres://unused" }
environments:
%[1]s    max_requests_per_minute: %[6]d
smtp: { host: 127.0.0.1, port: 1025, tls: none, from: dmfpipe@example.com }
connections:
  drop: { type: local, root: %[2]s }
projects:
  - name: customers
    kind: import
    environment: emu
    source: { connection: drop, path: in, pattern: "*.csv", min_age: 200ms, archive: archive, errors: failed }
    format: { type: csv, delimiter: ";" }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST, chunk_rows: %[3]d, lanes: %[4]d }
    mapping:
      CUSTOMERACCOUNT:   { from: Account, transforms: [trim, upper] }
      ORGANIZATIONNAME:  { from: Name }
      CUSTOMERGROUPID:   { from: Group }
      SALESCURRENCYCODE: { const: EUR }
      PARTYTYPE:         { const: Organization }
    validate:
      - { field: CUSTOMERACCOUNT, required: true, max_length: 20, unique: true }
      - { field: CUSTOMERGROUPID, required: true }
    on_errors: { max_error_rate: 0.5 }
    notify: { email: [ops@example.com], on: [%[5]s] }
`

func setup(t testing.TB, o testOpts) *testBundle {
	t.Helper()
	pool, _ := testsvc.MigratedDatabase(t)

	ec := emulator.Config{Faults: o.faults, RandSeed: 7}
	if o.emulator != nil {
		o.emulator(&ec)
	}
	em, foURL := emulator.New(ec), ""
	if o.sameFO != nil {
		em, foURL = o.sameFO.em, o.sameFO.foURL
	} else {
		srv := httptest.NewServer(em)
		t.Cleanup(srv.Close)
		t.Cleanup(em.Close)
		foURL = srv.URL
	}

	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "in"), 0o755))
	cfgPath := filepath.Join(t.TempDir(), "pipeline.yaml")
	yaml := fmt.Sprintf(configTemplate, testsvc.EmulatorEnvironment("emu", foURL, cmp.Or(o.poll, defaultPoll)),
		root, o.chunkRows, o.lanes, cmp.Or(o.notifyOn, "failure"), cmp.Or(o.maxRequestsPerMinute, config.DefaultMaxRequestsPerMinute))
	if o.edit != nil {
		yaml = o.edit(yaml)
	}
	require.NoError(t, os.WriteFile(cfgPath, []byte(yaml), 0o600))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)

	log := testsvc.Log(t)
	w, err := New(Deps{
		Pool: pool, Parts: testParts(cfg, log, o.notifier, o.dmf), Logger: log, Periodic: o.periodic, Tune: testsvc.QuickRiver,
	})
	require.NoError(t, err)
	testsvc.Serve(t, w)
	return &testBundle{w: w, em: em, pool: pool, root: root, foURL: foURL}
}

// testParts are the config's parts as the composition root builds them, with the DMF
// clients' backoff shortened (then adjusted by tune, when set) and, when set,
// notifications sent to notifier.
func testParts(cfg *config.Config, log *slog.Logger, notifier notify.Sender, tune func(*dmf.Options)) Parts {
	a := app.New(cfg, app.Options{Logger: log, DMFOptions: testsvc.QuickDMF(tune)})
	return &notifying{App: a, to: notifier}
}

// notifying is an App whose notifications go to a test's sender.
type notifying struct {
	*app.App
	to notify.Sender
}

func (n *notifying) Notifier() notify.Sender {
	if n.to == nil {
		return nil
	}
	return n.to
}

// executionID is the execution id of a chunk's upload attempt of job.
func (b *testBundle) executionID(t testing.TB, job int64, chunk, attempt int) string {
	t.Helper()
	j, err := jobhistory.NewStore(b.pool).Job(t.Context(), job)
	require.NoError(t, err)
	return imports.ExecutionID(j.Project, j.ID, j.ExecutionNonce, chunk, attempt)
}

func (b *testBundle) drop(t testing.TB, name, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(b.root, "in", name), []byte(content), 0o644))
}

func (b *testBundle) wait(t testing.TB, id int64) imports.JobSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s, err := b.w.WaitJob(ctx, id)
	require.NoError(t, err)
	return s
}

// startOne starts a job for one file and waits for it.
func (b *testBundle) startOne(t testing.TB, file string, force bool) imports.JobSummary {
	t.Helper()
	ids, err := b.w.StartJob(t.Context(), testProject, []string{file}, imports.TriggerRun, force)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	return b.wait(t, ids[0])
}

func TestImportChunkedOverLanesDuplicateAndForce(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 5000, lanes: 2})
	ctx := t.Context()
	content := testsvc.CustomersCSV(20000, nil)
	b.drop(t, "customers_1.csv", content)

	// A run-now discover takes the file (min_age is 0: stable at once).
	_, err := scheduler.RunNow(ctx, b.w.Client(), testProject)
	require.NoError(t, err)
	var id int64
	require.Eventually(t, func() bool {
		return b.pool.QueryRow(ctx, `SELECT id FROM jobs WHERE project = $1`, testProject).Scan(&id) == nil
	}, 30*time.Second, 50*time.Millisecond)
	s := b.wait(t, id)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Equal(t, jobhistory.JobCounts{Read: 20000, Staged: 20000, Uploaded: 20000, Imported: 20000}, s.Counts)
	assert.Equal(t, 4, s.Chunks)
	assert.Len(t, b.em.Rows(testEntity, testLE), 20000)
	st := b.em.Stats()
	assert.Zero(t, st.Updates)
	assert.EqualValues(t, 20000, st.Inserts)
	assert.EqualValues(t, 4, st.ImportCalls)
	assert.Empty(t, st.ProtocolViolations)

	hist := jobhistory.NewStore(b.pool)
	ids, err := hist.ExecutionIDs(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, []string{
		b.executionID(t, id, 1, 1), b.executionID(t, id, 2, 1), b.executionID(t, id, 3, 1), b.executionID(t, id, 4, 1),
	}, ids)
	chunks, err := hist.Chunks(ctx, id)
	require.NoError(t, err)
	for _, c := range chunks {
		assert.Equal(t, jobhistory.ChunkSucceeded, c.Status)
		assert.Equal(t, 5000, c.RowCount)
		assert.Equal(t, (c.No-1)%2+1, c.Lane)
		ex, ok, err := hist.Execution(ctx, b.executionID(t, id, c.No, 1))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, fmt.Sprintf("CUST-L%d", c.Lane), ex.DefinitionGroup)
		assert.Equal(t, "Succeeded", ex.DMFStatus)
	}
	assert.FileExists(t, filepath.Join(b.root, "archive", "customers_1.csv"))
	assert.NoFileExists(t, filepath.Join(b.root, "in", "customers_1.csv"))
	events, err := hist.Events(ctx, id)
	require.NoError(t, err)
	stages := map[string]bool{}
	for _, e := range events {
		stages[e.Stage] = true
	}
	for _, stage := range []string{"discover", "ingest", "chunk", "upload", "poll", "finalize"} {
		assert.True(t, stages[stage], "no %s event", stage)
	}

	// The same content under another name: skipped, archived, nothing sent.
	b.drop(t, "customers_2.csv", content)
	s = b.startOne(t, "customers_2.csv", false)
	assert.Equal(t, jobhistory.JobSkipped, s.Status)
	assert.Contains(t, s.Error, "duplicate")
	assert.EqualValues(t, 4, b.em.Stats().ImportCalls)
	assert.FileExists(t, filepath.Join(b.root, "archive", "customers_2.csv"))
	_, err = staging.NewStore(b.pool).Layout(ctx, s.ID)
	assert.ErrorIs(t, err, staging.ErrNoJob)

	// Forced: imported again, every row updated, none duplicated.
	b.drop(t, "customers_3.csv", content)
	s = b.startOne(t, "customers_3.csv", true)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Len(t, b.em.Rows(testEntity, testLE), 20000)
	st = b.em.Stats()
	assert.EqualValues(t, 20000, st.Inserts)
	assert.EqualValues(t, 20000, st.Updates)
	assert.EqualValues(t, 8, st.ImportCalls)
}

func TestImportPartiallySucceeded(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 300, lanes: 1})
	ctx := t.Context()
	// 10 rows fail our rules (no account); 5 carry a customer group F&O lacks (99),
	// which our rules do not know.
	b.drop(t, "customers_p.csv", testsvc.CustomersCSV(1000, func(i int, account, group *string) {
		switch {
		case i%100 == 7:
			*account = ""
		case i%200 == 50:
			*group = "99"
		}
	}))
	s := b.startOne(t, "customers_p.csv", false)
	require.Equal(t, jobhistory.JobPartiallySucceeded, s.Status, s.Error)
	assert.Equal(t, jobhistory.JobCounts{Read: 1000, Staged: 1000, Invalid: 10, Uploaded: 990, Imported: 985, Rejected: 5}, s.Counts)
	assert.Len(t, b.em.Rows(testEntity, testLE), 985)
	assert.FileExists(t, filepath.Join(b.root, "archive", "customers_p.csv"))

	st := staging.NewStore(b.pool)
	rejected, err := st.Rows(ctx, s.ID, staging.StatusRejected, 0, 100)
	require.NoError(t, err)
	require.Len(t, rejected, 5)
	for _, r := range rejected {
		assert.Equal(t, int64(0), r.No%200-50, "row %d", r.No)
		require.NotEmpty(t, r.Errors)
		assert.EqualValues(t, staging.RuleFO, r.Errors[0].Rule)
		assert.NotEmpty(t, r.Errors[0].Msg)
	}
	invalid, err := st.Rows(ctx, s.ID, staging.StatusInvalid, 0, 100)
	require.NoError(t, err)
	require.Len(t, invalid, 10)
	for _, r := range invalid {
		require.NotEmpty(t, r.Errors)
		assert.EqualValues(t, "required", r.Errors[0].Rule)
	}
	chunks, err := jobhistory.NewStore(b.pool).Chunks(ctx, s.ID)
	require.NoError(t, err)
	require.Len(t, chunks, 4)
	assert.Equal(t, 990, chunks[0].RowCount+chunks[1].RowCount+chunks[2].RowCount+chunks[3].RowCount)
}

func TestImportWithThrottlingAndServerErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 1000, lanes: 2,
		faults: emulator.Faults{Rate429: 0.3, RetryAfter: 50 * time.Millisecond, Rate5xx: 0.1}})
	b.drop(t, "customers_f.csv", testsvc.CustomersCSV(4000, nil))
	s := b.startOne(t, "customers_f.csv", false)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Equal(t, int64(4000), s.Counts.Imported)
	assert.Len(t, b.em.Rows(testEntity, testLE), 4000)
	st := b.em.Stats()
	assert.Zero(t, st.Updates)
	assert.Positive(t, st.Throttled)
	assert.Positive(t, st.Faulted)
}

// recordingSender keeps the notifications it is asked to send.
type recordingSender struct {
	mu   sync.Mutex
	sent []notify.Job
}

func (r *recordingSender) Send(_ context.Context, j notify.Job) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, j)
	return nil
}

func (r *recordingSender) jobs() []notify.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Job(nil), r.sent...)
}

func TestErrorRateFailsBeforeUploadAndNotifies(t *testing.T) {
	t.Parallel()
	sender := &recordingSender{}
	b := setup(t, testOpts{chunkRows: 100, lanes: 1, notifier: sender, notifyOn: "failure, partial"})
	// 60 of 100 rows have no account: above max_error_rate 0.5.
	b.drop(t, "customers_bad.csv", testsvc.CustomersCSV(100, func(i int, account, _ *string) {
		if i <= 60 {
			*account = ""
		}
	}))
	s := b.startOne(t, "customers_bad.csv", false)
	require.Equal(t, jobhistory.JobFailed, s.Status)
	assert.Contains(t, s.Error, "max_error_rate")
	assert.Equal(t, jobhistory.JobCounts{Read: 100, Staged: 100, Invalid: 60}, s.Counts)
	assert.Zero(t, b.em.Stats().ImportCalls)
	assert.FileExists(t, filepath.Join(b.root, "failed", "customers_bad.csv"))
	var outcome, movedTo string
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT outcome, moved_to FROM source_files WHERE path = 'in/customers_bad.csv'`).
		Scan(&outcome, &movedTo))
	assert.Equal(t, "failed", outcome)
	assert.Equal(t, "failed/customers_bad.csv", movedTo)

	require.Eventually(t, func() bool { return len(sender.jobs()) == 1 }, 10*time.Second, 20*time.Millisecond)
	n := sender.jobs()[0]
	assert.Equal(t, s.ID, n.ID)
	assert.Equal(t, notify.StatusFailed, n.Status)
	assert.Equal(t, "in/customers_bad.csv", n.File)
	assert.EqualValues(t, 60, n.Counts.Invalid)
	require.Len(t, n.Errors, imports.NotifyErrors)
	assert.Equal(t, "required", n.Errors[0].Rule)
	assert.EqualValues(t, 2, n.Errors[0].Line)
}

func TestUploadAfterCrashAsksFOBeforeResending(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1})
	ctx := t.Context()
	b.drop(t, "customers_c.csv", testsvc.CustomersCSV(200, nil))
	s := b.startOne(t, "customers_c.csv", false)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	require.EqualValues(t, 2, b.em.Stats().ImportCalls)
	// River records a finished job's state a moment after the job's own work.
	require.Eventually(t, func() bool {
		var running int
		return b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state <> 'completed'`).Scan(&running) == nil && running == 0
	}, 10*time.Second, 20*time.Millisecond)

	// As if the node died after ImportFromPackage was sent for chunk 2 and before its
	// answer was recorded.
	id := b.executionID(t, s.ID, 2, 1)
	_, err := b.pool.Exec(ctx, `UPDATE dmf_executions SET submitted_at = NULL, dmf_status = NULL, finished_at = NULL WHERE execution_id = $1`, id)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE chunks SET status = 'uploading' WHERE job_id = $1 AND chunk_no = 2`, s.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE jobs SET status = 'running' WHERE id = $1`, s.ID)
	require.NoError(t, err)
	res, err := b.w.Client().Insert(ctx, UploadArgs{JobID: s.ID, ChunkNo: 2}, nil)
	require.NoError(t, err)
	require.False(t, res.UniqueSkippedAsDuplicate)

	hist := jobhistory.NewStore(b.pool)
	require.Eventually(t, func() bool {
		c, err := hist.Chunk(ctx, s.ID, 2)
		return err == nil && c.Status == jobhistory.ChunkSucceeded
	}, 20*time.Second, 20*time.Millisecond)
	assert.EqualValues(t, 2, b.em.Stats().ImportCalls, "execution sent again")
	ex, ok, err := hist.Execution(ctx, id)
	require.NoError(t, err)
	require.True(t, ok)
	assert.False(t, ex.SubmittedAt.IsZero())
	events, err := hist.Events(ctx, s.ID)
	require.NoError(t, err)
	var found bool
	for _, e := range events {
		found = found || strings.Contains(e.Message, "found in F&O")
	}
	assert.True(t, found, "no event about the execution found after the crash")
	assert.Len(t, b.em.Rows(testEntity, testLE), 200)

	// As if the node died after recording attempt 2 of chunk 2 and before sending it:
	// F&O does not know the execution, so it is sent, with the same id.
	require.Eventually(t, func() bool {
		var running int
		return b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state <> 'completed'`).Scan(&running) == nil && running == 0
	}, 10*time.Second, 20*time.Millisecond)
	id2 := b.executionID(t, s.ID, 2, 2)
	_, err = b.pool.Exec(ctx, `UPDATE chunks SET status = 'uploading', attempts = 2 WHERE job_id = $1 AND chunk_no = 2`, s.ID)
	require.NoError(t, err)
	require.NoError(t, hist.RecordExecution(ctx, jobhistory.Execution{ID: id2, JobID: s.ID, ChunkNo: 2, Attempt: 2,
		Environment: "emu", DefinitionGroup: "CUST", LegalEntity: testLE}))
	res, err = b.w.Client().Insert(ctx, UploadArgs{JobID: s.ID, ChunkNo: 2}, nil)
	require.NoError(t, err)
	require.False(t, res.UniqueSkippedAsDuplicate)
	require.Eventually(t, func() bool {
		c, err := hist.Chunk(ctx, s.ID, 2)
		return err == nil && c.Status == jobhistory.ChunkSucceeded
	}, 20*time.Second, 20*time.Millisecond)
	st := b.em.Stats()
	assert.EqualValues(t, 3, st.ImportCalls)
	assert.EqualValues(t, 100, st.Updates)
	ex, ok, err = hist.Execution(ctx, id2)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "Succeeded", ex.DMFStatus)
	assert.Len(t, b.em.Rows(testEntity, testLE), 200)
}

// A stage that read a chunk before it ended (a reclaimed upload re-recording its
// execution while the execution's poll ends the chunk) does not undo the chunk's end.
func TestChunkEndIsNotOverwrittenByAStaleStage(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1})
	ctx := t.Context()
	b.drop(t, "customers_s.csv", testsvc.CustomersCSV(200, nil))
	s := b.startOne(t, "customers_s.csv", false)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	hist := jobhistory.NewStore(b.pool)
	j, err := hist.Job(ctx, s.ID)
	require.NoError(t, err)
	stale, err := hist.Chunk(ctx, s.ID, 2)
	require.NoError(t, err)
	require.Equal(t, jobhistory.ChunkSucceeded, stale.Status)
	stale.Status = jobhistory.ChunkImporting
	execID := b.executionID(t, s.ID, 2, 1)
	countPolls := func() (n int) {
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, PollArgs{}.Kind()).Scan(&n))
		return n
	}
	polls := countPolls()

	require.NoError(t, b.w.stages.Submitted(ctx, j, stale, execID, ""))
	require.NoError(t, b.w.stages.FailChunk(ctx, stale, errors.New("a late failure")), "failing an ended chunk is not an error")

	c, err := hist.Chunk(ctx, s.ID, 2)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.ChunkSucceeded, c.Status)
	assert.Empty(t, c.Error)
	assert.Equal(t, polls, countPolls(), "no poll inserted for an ended chunk")
	after, err := hist.Job(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, j.Stage, after.Stage)
	var imported int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM staging_rows WHERE job_id = $1 AND status = 'imported'`, s.ID).Scan(&imported))
	assert.Equal(t, 200, imported)
}

// serve's periodic purge drops the staging of jobs finished longer ago than the
// retention (30 days by default), and leaves the others.
func TestPurgeDropsExpiredStaging(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1, periodic: true})
	ctx := t.Context()
	countPurges := func() (n int) {
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'completed'`,
			PurgeArgs{}.Kind()).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return countPurges() == 1 }, 10*time.Second, 20*time.Millisecond,
		"the leader purges when it starts")

	b.drop(t, "old.csv", testsvc.CustomersCSV(50, nil))
	b.drop(t, "recent.csv", testsvc.CustomersCSV(60, func(i int, account, _ *string) { *account = fmt.Sprintf("r%06d", i) }))
	old := b.startOne(t, "old.csv", false)
	recent := b.startOne(t, "recent.csv", false)
	require.Equal(t, jobhistory.JobSucceeded, old.Status, old.Error)
	require.Equal(t, jobhistory.JobSucceeded, recent.Status, recent.Error)
	_, err := b.pool.Exec(ctx, `UPDATE jobs SET finished_at = now() - interval '31 days' WHERE id = $1`, old.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE jobs SET finished_at = now() - interval '29 days' WHERE id = $1`, recent.ID)
	require.NoError(t, err)

	// As the hourly tick would.
	_, err = b.w.Client().Insert(ctx, PurgeArgs{}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return countPurges() == 2 }, 10*time.Second, 20*time.Millisecond)

	st := staging.NewStore(b.pool)
	_, err = st.Layout(ctx, old.ID)
	require.ErrorIs(t, err, staging.ErrNoJob)
	var tables int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname IN ($1, $2)`,
		fmt.Sprintf("staging_rows_%d", old.ID), fmt.Sprintf("staging_errors_%d", old.ID)).Scan(&tables))
	assert.Zero(t, tables, "the partitions are dropped")
	counts, err := st.Counts(ctx, recent.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 60, counts.Total, "a job within the retention keeps its rows")
}

// A run that resumes a job re-offers a step whose River job is gone (here: a chunk left
// importing with no poll), and the job ends without sending anything again.
func TestResumeReoffersAStepWhoseRiverJobIsGone(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1})
	s, calls := b.orphanedPoll(t, "customers_r.csv")

	ids, err := b.w.Resume(t.Context(), testProject)
	require.NoError(t, err)
	require.Equal(t, []int64{s.ID}, ids)
	b.assertHealed(t, s.ID, calls)

	// Nothing is missing now: a second resume offers nothing again.
	ids, err = b.w.Resume(t.Context(), testProject)
	require.NoError(t, err)
	assert.Empty(t, ids)
}

// serve's sweep does the same for every unfinished job, once its chunks stood still.
func TestSweepReoffersAStepWhoseRiverJobIsGone(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1, periodic: true})
	ctx := t.Context()
	s, calls := b.orphanedPoll(t, "customers_w.csv")

	// A chunk that moved within the last minute is left alone.
	_, err := b.w.Client().Insert(ctx, SweepArgs{}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var waiting int
		return b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`,
			SweepArgs{}.Kind()).Scan(&waiting) == nil && waiting == 0
	}, 10*time.Second, 20*time.Millisecond)
	sum, err := b.w.Summary(ctx, s.ID)
	require.NoError(t, err)
	require.Equal(t, jobhistory.JobRunning, sum.Status)

	_, err = b.pool.Exec(ctx, `UPDATE chunks SET updated_at = now() - interval '2 minutes' WHERE job_id = $1`, s.ID)
	require.NoError(t, err)
	_, err = b.w.Client().Insert(ctx, SweepArgs{}, nil)
	require.NoError(t, err)
	b.assertHealed(t, s.ID, calls)
}

// orphanedPoll imports file, then leaves its job as the mid-poll race did: chunk 2
// importing, the job running, and no poll, finalize or notify River job. It returns the
// job and the ImportFromPackage calls made.
func (b *testBundle) orphanedPoll(t *testing.T, file string) (imports.JobSummary, int64) {
	t.Helper()
	ctx := t.Context()
	b.drop(t, file, testsvc.CustomersCSV(200, nil))
	s := b.startOne(t, file, false)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	require.Eventually(t, func() bool {
		var open int
		return b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state <> 'completed' AND queue <> $1`,
			QueueMaintenance).Scan(&open) == nil && open == 0
	}, 10*time.Second, 20*time.Millisecond)
	_, err := b.pool.Exec(ctx, `DELETE FROM river_job WHERE kind IN ('dmfpipe.poll', 'dmfpipe.finalize', 'dmfpipe.notify')`)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE chunks SET status = 'importing' WHERE job_id = $1 AND chunk_no = 2`, s.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE jobs SET status = 'running', stage = 'poll', finished_at = NULL WHERE id = $1`, s.ID)
	require.NoError(t, err)
	return s, b.em.Stats().ImportCalls
}

// assertHealed waits for a job left by orphanedPoll to succeed with nothing sent again
// and the re-offer on its timeline.
func (b *testBundle) assertHealed(t *testing.T, job, calls int64) {
	t.Helper()
	got := b.wait(t, job)
	assert.Equal(t, jobhistory.JobSucceeded, got.Status, got.Error)
	assert.EqualValues(t, 200, got.Counts.Imported)
	assert.Equal(t, calls, b.em.Stats().ImportCalls, "nothing sent again")
	events, err := jobhistory.NewStore(b.pool).Events(t.Context(), job)
	require.NoError(t, err)
	var reoffered bool
	for _, e := range events {
		reoffered = reoffered || strings.Contains(e.Message, "chunk 2 (importing) had no dmfpipe.poll job waiting or running")
	}
	assert.True(t, reoffered, "the re-offer is on the job's timeline")
}

// A file no longer in the source at the finalize was moved by an earlier attempt that
// crashed before recording it (it is in the archive: recorded there), or by someone else
// (a warning on the timeline); the job's outcome stands either way.
func TestFinalizeAccountsForAFileMovedBeforeIt(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1, emulator: func(c *emulator.Config) { c.ExecutionDelay = 300 * time.Millisecond }})
	ctx := t.Context()
	for _, tc := range []struct {
		file     string
		rows     int
		moveTo   string // "" deletes it
		wantWarn bool
	}{
		{file: "customers_moved.csv", rows: 10, moveTo: "archive"},
		{file: "customers_deleted.csv", rows: 11, wantWarn: true},
	} {
		b.drop(t, tc.file, testsvc.CustomersCSV(tc.rows, nil))
		ids, err := b.w.StartJob(ctx, testProject, []string{tc.file}, imports.TriggerRun, false)
		require.NoError(t, err)
		require.Len(t, ids, 1)
		require.Eventually(t, func() bool {
			j, err := jobhistory.NewStore(b.pool).Job(ctx, ids[0])
			return err == nil && (j.Stage == "upload" || j.Stage == "poll")
		}, 20*time.Second, 20*time.Millisecond)
		from := filepath.Join(b.root, "in", tc.file)
		if tc.moveTo == "" {
			require.NoError(t, os.Remove(from))
		} else {
			require.NoError(t, os.MkdirAll(filepath.Join(b.root, tc.moveTo), 0o755))
			require.NoError(t, os.Rename(from, filepath.Join(b.root, tc.moveTo, tc.file)))
		}
		s := b.wait(t, ids[0])
		assert.Equal(t, jobhistory.JobSucceeded, s.Status, tc.file)

		j, err := jobhistory.NewStore(b.pool).Job(ctx, ids[0])
		require.NoError(t, err)
		entry, err := jobhistory.NewLedger(b.pool).Get(ctx, j.SourceFileID)
		require.NoError(t, err)
		events, err := jobhistory.NewStore(b.pool).Events(ctx, ids[0])
		require.NoError(t, err)
		var warned bool
		for _, e := range events {
			warned = warned || (e.Level == "warn" && strings.Contains(e.Message, "no longer in the source"))
		}
		assert.Equal(t, tc.wantWarn, warned, tc.file)
		if tc.moveTo != "" {
			assert.Equal(t, "archive/"+tc.file, entry.MovedTo, "recorded where the earlier attempt put it")
		} else {
			assert.Empty(t, entry.MovedTo)
		}
	}
}

// A step whose attempt fails on the infrastructure (here a temp folder that is not
// there, as a full or read-only one would) says so on its job's timeline, with the cause
// and when it runs again, and the file stays good: once the folder is back, the retry
// imports it. Not parallel: it changes TMPDIR.
func TestARetrySaysWhyOnTheTimeline(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "gone"))
	b := setup(t, testOpts{chunkRows: 100, lanes: 1})
	ctx := t.Context()
	b.drop(t, "customers_tmp.csv", testsvc.CustomersCSV(10, nil))
	ids, err := b.w.StartJob(ctx, testProject, []string{"customers_tmp.csv"}, imports.TriggerRun, false)
	require.NoError(t, err)
	require.Len(t, ids, 1)

	var retry jobhistory.Event
	require.Eventually(t, func() bool {
		events, err := jobhistory.NewStore(b.pool).Events(ctx, ids[0])
		require.NoError(t, err)
		for _, e := range events {
			if e.Level == "warn" && strings.Contains(e.Message, "retrying in") {
				retry = e
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, "upload", retry.Stage)
	assert.Regexp(t, `^upload attempt 1 of 10 failed: creating the package of job \d+ chunk 1: .*gone.*: no such file or directory; retrying in 15s$`, retry.Message)

	require.NoError(t, os.Setenv("TMPDIR", t.TempDir()))
	var upload int64
	require.Eventually(t, func() bool { // the event is recorded before River records the retry
		res, err := b.w.Client().JobList(ctx, river.NewJobListParams().Kinds(UploadArgs{}.Kind()).States(rivertype.JobStateRetryable))
		require.NoError(t, err)
		if len(res.Jobs) == 1 {
			upload = res.Jobs[0].ID
		}
		return upload != 0
	}, 10*time.Second, 20*time.Millisecond)
	_, err = b.w.Client().JobRetry(ctx, upload)
	require.NoError(t, err)
	s := b.wait(t, ids[0])
	assert.Equal(t, jobhistory.JobSucceeded, s.Status)
	assert.Equal(t, int64(10), s.Counts.Imported)
	assert.FileExists(t, filepath.Join(b.root, "archive", "customers_tmp.csv"))
}
