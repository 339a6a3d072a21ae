package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/datapackage"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// uploadWorker sends one chunk of a job to F&O: package, blob, ImportFromPackage.
type uploadWorker struct {
	river.WorkerDefaults[UploadArgs]
	w *Worker
}

func (u *uploadWorker) Timeout(*river.Job[UploadArgs]) time.Duration { return stageUpload.timeout }

func (u *uploadWorker) NextRetry(job *river.Job[UploadArgs]) time.Time {
	return stageUpload.nextRetry(job.Attempt)
}

func (u *uploadWorker) Work(ctx context.Context, job *river.Job[UploadArgs]) error {
	w, a := u.w, job.Args
	hist := history(w.pool)
	j, err := stageJob(ctx, hist, a.JobID)
	if err != nil {
		return err
	}
	c, err := hist.Chunk(ctx, a.JobID, a.ChunkNo)
	if errors.Is(err, jobhistory.ErrChunkNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if jobhistory.JobTerminal(j.Status) || jobhistory.ChunkTerminal(c.Status) {
		return nil
	}
	p, err := w.project(j.Project)
	if err != nil {
		return w.failChunk(ctx, c, err)
	}
	cp, err := w.compile(p)
	if err != nil {
		return w.failChunk(ctx, c, err)
	}
	client, err := w.dmf(j.Environment)
	if err != nil {
		return w.failChunk(ctx, c, err)
	}
	attempt, err := hist.StartChunkUpload(ctx, c.JobID, c.No)
	if err != nil {
		return err
	}
	ex := jobhistory.Execution{
		ID: executionID(p.Name, j.ID, c.No, attempt), JobID: j.ID, ChunkNo: c.No, Attempt: attempt,
		Environment: j.Environment, DefinitionGroup: definitionGroup(p, c.Lane), LegalEntity: j.LegalEntity, Operation: "import",
	}
	prev, recorded, err := hist.Execution(ctx, ex.ID)
	if err != nil {
		return err
	}
	if recorded && !prev.SubmittedAt.IsZero() {
		return w.submitted(ctx, j, c, ex.ID, prev.BlobID)
	}
	if recorded {
		// A crash after sending, before the answer was recorded: ask F&O before
		// sending again. Unknown or "not found" means it never saw it.
		st, err := client.GetExecutionSummaryStatus(ctx, ex.ID)
		switch {
		case err == nil && !st.Terminal():
			// Sent by a node that died while F&O staged it. Until it ends, its record
			// stays unsubmitted, so that other uploads of the definition group wait for
			// it (awaitOrphanedImports) as they would have for the dead node's lock.
			w.log.Info("execution sent before a crash is still running in F&O; waiting for it", "execution", ex.ID, "status", st)
			ps := w.pollSettings(j.Environment)
			return river.JobSnooze(pollInterval(ps.Initial.D(), ps.Max.D(), prev.Polls+1))
		case err == nil && st != dmf.StatusUnknown:
			w.event(ctx, j.ID, "upload", "warn", fmt.Sprintf("chunk %d: execution %s found in F&O (%s) after a crash; not sent again", c.No, ex.ID, st), nil)
			return w.submitted(ctx, j, c, ex.ID, prev.BlobID)
		case err != nil && !dmf.IsExecutionNotFound(err):
			return fmt.Errorf("looking up execution %s before sending it again: %w", ex.ID, err)
		}
		w.event(ctx, j.ID, "upload", "warn", fmt.Sprintf("chunk %d: execution %s unknown to F&O after a crash; sending it again", c.No, ex.ID), nil)
	}

	layout, err := w.staging.Layout(ctx, j.ID)
	if err != nil {
		return err
	}
	pkg, size, err := buildPackage(ctx, w.pool, c, datapackage.Spec{
		DefinitionGroup: ex.DefinitionGroup, Entity: cp.entity.DMFName, TargetEntity: cp.entity.AOTName, Fields: layout.Fields,
	})
	if err != nil {
		return err
	}
	defer func() {
		pkg.Close()
		os.Remove(pkg.Name())
	}()
	loc, err := client.GetAzureWriteURL(ctx, ex.ID)
	if err != nil {
		return retryOrFailChunk(ctx, w, job.JobRow, c, err)
	}
	if err := client.UploadBlob(ctx, loc.BlobURL, pkg, size); err != nil {
		return retryOrFailChunk(ctx, w, job.JobRow, c, err)
	}
	ex.BlobID = loc.BlobID
	if err := hist.RecordExecution(ctx, ex); err != nil {
		return err
	}
	var sent bool
	err = w.withGroupLock(ctx, j.Environment, ex.DefinitionGroup, func() error {
		if err := w.awaitOrphanedImports(ctx, client, ex); err != nil {
			return err
		}
		_, err := client.ImportFromPackage(ctx, dmf.ImportParams{
			PackageURL: loc.BlobURL, DefinitionGroupID: ex.DefinitionGroup, ExecutionID: ex.ID,
			Execute: true, Overwrite: true, LegalEntityID: ex.LegalEntity,
		})
		if err != nil {
			return err
		}
		// F&O has staged the package: say so before the lock goes, or the next import of
		// the group would take this one for a dead node's and wait for its end
		// (awaitOrphanedImports).
		sent = true
		return hist.SetSubmitted(ctx, ex.ID, loc.BlobID)
	})
	if sent && err != nil {
		return err // sent: the retry asks F&O before sending again
	}
	if err != nil {
		return retryOrFailChunk(ctx, w, job.JobRow, c, err)
	}
	w.event(ctx, j.ID, "upload", "info", fmt.Sprintf("chunk %d: %d rows sent as execution %s (%s)", c.No, c.RowCount, ex.ID, ex.DefinitionGroup),
		map[string]any{"chunk": c.No, "execution": ex.ID, "bytes": size, "lane": c.Lane})
	return w.submitted(ctx, j, c, ex.ID, loc.BlobID)
}

// retryOrFailChunk fails the chunk for an answer that retrying cannot change (a 4xx
// other than 408 and 429: the package or the request is wrong) and on the River job's
// last attempt, and retries the others.
func retryOrFailChunk(ctx context.Context, w *Worker, job *rivertype.JobRow, c jobhistory.Chunk, err error) error {
	var he *dmf.HTTPError
	if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 &&
		he.StatusCode != http.StatusRequestTimeout && he.StatusCode != http.StatusTooManyRequests {
		return w.failChunk(ctx, c, err)
	}
	if job.Attempt >= job.MaxAttempts {
		return w.failChunk(ctx, c, fmt.Errorf("giving up after %d attempts: %w", job.Attempt, err))
	}
	return err
}

// buildPackage streams a chunk's rows from staging into a package in a temp file.
func buildPackage(ctx context.Context, db jobhistory.DBTX, c jobhistory.Chunk, spec datapackage.Spec) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "dmfpipe-package-*.zip")
	if err != nil {
		return nil, 0, fmt.Errorf("creating the package of job %d chunk %d: %w", c.JobID, c.No, err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, fmt.Errorf("building the package of job %d chunk %d: %w", c.JobID, c.No, err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	pw, err := datapackage.NewWriter(bw, spec)
	if err != nil {
		return fail(err)
	}
	if err := chunkRows(ctx, db, c, func(_ int64, vals []string) error { return pw.WriteRow(vals) }); err != nil {
		return fail(err)
	}
	if pw.Rows() != int64(c.RowCount) {
		return fail(fmt.Errorf("%d rows in staging, %d planned", pw.Rows(), c.RowCount))
	}
	if err := pw.Close(); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	return f, st.Size(), nil
}

// withGroupLock runs fn holding the cluster-wide lock of a definition group: F&O does
// not support concurrent imports into one data project, whichever node sends them. The
// session lock lives on a connection kept for the call.
func (w *Worker) withGroupLock(ctx context.Context, env, group string, fn func() error) error {
	// Within the process, callers queue here rather than each holding a pooled
	// connection while they wait for the database lock.
	gate := w.groupGate(env + "/" + group)
	select {
	case gate <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for definition group %s: %w", group, ctx.Err())
	}
	defer func() { <-gate }()
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("locking definition group %s: %w", group, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1 || '/' || $2))`, env, group); err != nil {
		return fmt.Errorf("locking definition group %s: %w", group, err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1 || '/' || $2))`, env, group); err != nil {
			// The session may still hold the lock: end it rather than pool it.
			w.log.Warn("unlocking definition group; closing the connection", "group", group, "err", err)
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
		}
	}()
	return fn()
}

// awaitOrphanedImports waits, under the definition group's lock, for the imports of the
// group that a node sent and died before F&O answered: the dead node's lock is gone, but
// F&O may still be staging its package, and a second import of the group would then fail
// (DMF2025). Such an execution is recorded, unsubmitted and known to F&O; one that is
// only recorded (its upload waits for the lock, or never sent it) is Unknown to F&O.
func (w *Worker) awaitOrphanedImports(ctx context.Context, client *dmf.Client, ex jobhistory.Execution) error {
	rows, err := w.pool.Query(ctx, `
		SELECT e.execution_id FROM dmf_executions e JOIN jobs j ON j.id = e.job_id AND j.finished_at IS NULL
		WHERE e.environment = $1 AND e.definition_group = $2 AND e.operation = 'import'
		  AND e.submitted_at IS NULL AND e.finished_at IS NULL AND e.execution_id <> $3`,
		ex.Environment, ex.DefinitionGroup, ex.ID)
	if err != nil {
		return fmt.Errorf("listing the unanswered imports of definition group %s: %w", ex.DefinitionGroup, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("listing the unanswered imports of definition group %s: %w", ex.DefinitionGroup, err)
	}
	settings := w.pollSettings(ex.Environment)
	for _, id := range ids {
		for n := 1; ; n++ {
			st, err := client.GetExecutionSummaryStatus(ctx, id)
			if dmf.IsExecutionNotFound(err) || (err == nil && st.Terminal()) {
				break
			}
			if err != nil {
				return fmt.Errorf("looking up execution %s, sent by a node that died: %w", id, err)
			}
			if n == 1 {
				w.event(ctx, ex.JobID, "upload", "warn", fmt.Sprintf("chunk %d: waiting for execution %s (%s), sent to %s before a crash",
					ex.ChunkNo, id, st, ex.DefinitionGroup), map[string]any{"chunk": ex.ChunkNo, "execution": id})
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for execution %s: %w", id, ctx.Err())
			case <-time.After(pollInterval(settings.Initial.D(), settings.Max.D(), n)):
			}
		}
	}
	return nil
}

// groupGate returns the in-process gate of a definition group: a channel of capacity 1.
func (w *Worker) groupGate(key string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, ok := w.gates[key]
	if !ok {
		g = make(chan struct{}, 1)
		w.gates[key] = g
	}
	return g
}

// submitted records that F&O has a chunk's execution: the chunk is importing, its rows
// uploaded, and a poll follows the execution. It is safe to repeat, and does nothing more
// than record the submission once the chunk has ended (its poll may have run first).
func (w *Worker) submitted(ctx context.Context, j *jobhistory.Job, c jobhistory.Chunk, execID, blobID string) error {
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		hist := history(tx)
		if err := hist.SetSubmitted(ctx, execID, blobID); err != nil {
			return err
		}
		c, err := hist.LockChunk(ctx, c.JobID, c.No)
		if err != nil || jobhistory.ChunkTerminal(c.Status) {
			return err
		}
		if err := hist.SetChunkStatus(ctx, c.JobID, c.No, jobhistory.ChunkImporting, ""); err != nil {
			return err
		}
		if _, err := setChunkRows(ctx, tx, c, staging.StatusUploaded, staging.StatusValid); err != nil {
			return err
		}
		if err := hist.SetStage(ctx, c.JobID, "poll"); err != nil {
			return err
		}
		// The first poll runs at once (F&O answered after staging, the status may
		// already tell); later ones snooze following the environment's poll settings.
		_, err = w.client.InsertTx(ctx, tx, PollArgs{ExecutionID: execID}, nil)
		return err
	})
}

// pollSettings are an environment's poll settings.
func (w *Worker) pollSettings(env string) config.Poll {
	if e, ok := w.cfg.Environments[env]; ok {
		return e.Poll
	}
	return config.Poll{Initial: config.Duration(config.DefaultPollInitial), Max: config.Duration(config.DefaultPollMax),
		Deadline: config.Duration(config.DefaultPollDeadline)}
}

// failChunk ends a chunk as failed (its rows stay where they are for an operator) and
// finalizes the job when it was the last open chunk. A chunk that has ended meanwhile
// keeps its end.
func (w *Worker) failChunk(ctx context.Context, c jobhistory.Chunk, cause error) error {
	ended := false
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		hist := history(tx)
		c, err := hist.LockChunk(ctx, c.JobID, c.No)
		if ended = jobhistory.ChunkTerminal(c.Status); err != nil || ended {
			return err
		}
		if err := hist.SetChunkStatus(ctx, c.JobID, c.No, jobhistory.ChunkFailed, cause.Error()); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, c.JobID, "upload", "error", fmt.Sprintf("chunk %d failed: %s", c.No, cause), map[string]any{"chunk": c.No}); err != nil {
			return err
		}
		return w.finalizeIfDone(ctx, tx, c.JobID)
	})
	if err != nil {
		return fmt.Errorf("failing job %d chunk %d (%w): %w", c.JobID, c.No, cause, err)
	}
	if ended {
		return nil
	}
	return river.JobCancel(cause)
}

// finalizeIfDone inserts the job's finalize once none of its chunks is open.
func (w *Worker) finalizeIfDone(ctx context.Context, tx pgx.Tx, job int64) error {
	// Serialise the chunks of one job ending at once, so that the last one sees the others.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('dmfpipe.chunks/' || $1::bigint::text, 0))`, job); err != nil {
		return fmt.Errorf("locking the chunks of job %d: %w", job, err)
	}
	open, err := history(tx).ChunksPending(ctx, job)
	if err != nil || open > 0 {
		return err
	}
	_, err = w.client.InsertTx(ctx, tx, FinalizeArgs{JobID: job}, nil)
	return err
}
