package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/datapackage"
	"github.com/dmfpipe/dmfpipe/internal/backoff"
	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// Upload sends one chunk of a job to F&O: the package streamed from staging into a temp
// file, GetAzureWriteUrl, the blob, ImportFromPackage under the definition group's
// cluster-wide lock, then the poll step. The execution is recorded before it is sent; an
// upload that finds it recorded asks F&O before sending anything again.
func (s *Stages) Upload(ctx context.Context, at Attempt, jobID int64, chunkNo int) error {
	hist := s.hist(s.d.DB)
	j, err := s.job(ctx, jobID)
	if err != nil {
		return err
	}
	c, err := hist.Chunk(ctx, jobID, chunkNo)
	if errors.Is(err, jobhistory.ErrChunkNotFound) {
		return permanent(err)
	}
	if err != nil {
		return err
	}
	if jobhistory.JobTerminal(j.Status) || jobhistory.ChunkTerminal(c.Status) {
		return nil
	}
	p, err := s.admit(ctx, j, StepUpload)
	if err != nil {
		return err
	}
	client, err := s.d.DMF(j.Environment)
	if err != nil {
		return s.FailChunk(ctx, c, err)
	}
	if p.Recurring() {
		return s.enqueue(ctx, at, j, c, p, client) // recurring.go
	}
	attempt, err := hist.StartChunkUpload(ctx, c.JobID, c.No)
	if err != nil {
		return err
	}
	ex := jobhistory.Execution{
		ID: ExecutionID(p.Name, j.ID, j.ExecutionNonce, c.No, attempt), JobID: j.ID, ChunkNo: c.No, Attempt: attempt,
		Environment: j.Environment, DefinitionGroup: DefinitionGroup(p.Project, c.Lane), LegalEntity: j.LegalEntity, Operation: "import",
	}
	prev, recorded, err := hist.Execution(ctx, ex.ID)
	if err != nil {
		return err
	}
	if recorded && !prev.SubmittedAt.IsZero() {
		return s.Submitted(ctx, j, c, ex.ID, prev.BlobID)
	}
	if recorded {
		// A crash after sending, before the answer was recorded: ask F&O before
		// sending again. Unknown or "not found" means it never saw it. The question is a
		// status call: it waits its turn in the execution's poll schedule like a poll.
		if wait := s.pollWait(prev); wait > 0 {
			return snooze(wait)
		}
		// Another chunk's upload may be asking about it too (awaitOrphanedImports).
		st, err := client.GetExecutionSummaryStatus(s.claimed(ctx, ex.ID, prev.Polls), ex.ID)
		if errors.Is(err, jobstep.ErrTurnTaken) {
			return snooze(s.pollInterval(ex.Environment, prev.Polls+1))
		}
		if rerr := hist.RecordAnswer(ctx, ex.ID, jobstep.StatusSeen(st, err), false, ""); rerr != nil {
			return rerr
		}
		switch {
		case err == nil && !st.Terminal():
			// Sent by a node that died while F&O staged it. Until it ends, its record
			// stays unsubmitted, so that other uploads of the definition group wait for
			// it (awaitOrphanedImports) as they would have for the dead node's lock; past
			// the poll deadline the chunk fails like any execution that never ends.
			if age, deadline := s.d.Now().Sub(prev.RecordedAt), s.pollSettings(ex.Environment).Deadline.D(); age > deadline {
				return s.FailChunk(ctx, c, fmt.Errorf("execution %s, sent before a crash, still %s in F&O after %s (poll deadline %s): "+
					"whether F&O imported its rows is unknown; look it up in F&O before resubmitting them: %w",
					ex.ID, st, age.Round(time.Second), deadline, dmf.ErrPollDeadline))
			}
			s.d.Log.Info("execution sent before a crash is still running in F&O; waiting for it", "execution", ex.ID, "status", st)
			return snooze(s.pollInterval(ex.Environment, prev.Polls+1))
		case err == nil && st != dmf.StatusUnknown:
			s.event(ctx, j.ID, StepUpload, "warn", fmt.Sprintf("chunk %d: execution %s found in F&O (%s) after a crash; not sent again", c.No, ex.ID, st), nil)
			return s.Submitted(ctx, j, c, ex.ID, prev.BlobID)
		case err != nil && !dmf.IsExecutionNotFound(err):
			return fmt.Errorf("looking up execution %s before sending it again: %w", ex.ID, err)
		}
		s.event(ctx, j.ID, StepUpload, "warn", fmt.Sprintf("chunk %d: execution %s unknown to F&O after a crash; sending it again", c.No, ex.ID), nil)
	}

	layout, err := s.staging(s.d.DB).Layout(ctx, j.ID)
	if err != nil {
		return err
	}
	pkg, size, err := s.buildPackage(ctx, c, datapackage.Spec{
		DefinitionGroup: ex.DefinitionGroup, Entity: p.Entity.DMFName, TargetEntity: p.Entity.AOTName, Fields: layout.Fields,
	})
	if err != nil {
		return err
	}
	// The package is removed on every way out, a canceled context included.
	defer func() {
		pkg.Close()
		os.Remove(pkg.Name())
	}()
	loc, err := client.GetAzureWriteURL(ctx, ex.ID)
	if err != nil {
		return s.retryOrFailChunk(ctx, at, c, err)
	}
	if err := client.UploadBlob(ctx, loc.BlobURL, pkg, size); err != nil {
		return s.retryOrFailChunk(ctx, at, c, err)
	}
	ex.BlobID = loc.BlobID
	if err := hist.RecordExecution(ctx, ex); err != nil {
		return err
	}
	var sent bool
	interval := s.pollInterval(ex.Environment, 1)
	var held *groupHeldError
	err = s.withGroupLock(ctx, c, ex.Environment, ex.DefinitionGroup, interval, func() error {
		if err := s.awaitOrphanedImports(ctx, client, ex); err != nil {
			return err
		}
		stop := s.reportWait(ctx, c.JobID, StepUpload, interval, func(waited time.Duration) string {
			return fmt.Sprintf("chunk %d: F&O has been staging execution %s for %s (ImportFromPackage has not answered yet)",
				c.No, ex.ID, waited.Round(time.Second))
		})
		_, err := client.ImportFromPackage(ctx, dmf.ImportParams{
			PackageURL: loc.BlobURL, DefinitionGroupID: ex.DefinitionGroup, ExecutionID: ex.ID,
			Execute: true, Overwrite: true, LegalEntityID: ex.LegalEntity,
		})
		stop()
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
	if errors.As(err, &held) {
		return s.FailChunk(ctx, c, err)
	}
	if err != nil {
		return s.retryOrFailChunk(ctx, at, c, err)
	}
	s.event(ctx, j.ID, StepUpload, "info", fmt.Sprintf("chunk %d: %d rows sent as execution %s (%s)", c.No, c.RowCount, ex.ID, ex.DefinitionGroup),
		map[string]any{"chunk": c.No, "execution": ex.ID, "bytes": size, "lane": c.Lane})
	return s.Submitted(ctx, j, c, ex.ID, loc.BlobID)
}

// retryOrFailChunk fails the chunk for an answer that retrying cannot change (a 4xx
// other than 408 and 429: the package or the request is wrong), in the foreground for
// what retrying will not cure soon (dmf.IsPersistent: the client retried it for the
// run's --give-up-after; a run must end), and on the step's last attempt, and retries
// the others.
func (s *Stages) retryOrFailChunk(ctx context.Context, at Attempt, c jobhistory.Chunk, err error) error {
	if jobstep.Refused(err) {
		return s.FailChunk(ctx, c, err)
	}
	if s.d.Foreground && dmf.IsPersistent(err) {
		return s.FailChunk(ctx, c, err)
	}
	if at.Last() {
		return s.FailChunk(ctx, c, fmt.Errorf("giving up after %d attempts: %w", at.N, err))
	}
	return err
}

// uploadStatuses are the statuses of a chunk's rows while it is sent: valid before F&O
// has it, uploaded after.
var uploadStatuses = []staging.Status{staging.StatusValid, staging.StatusUploaded}

// packageStatuses are the statuses of the rows a chunk's package holds: those being sent,
// and, when an execution is sent again after a crash, those F&O already gave a verdict
// on (the package must be the same one).
var packageStatuses = []staging.Status{staging.StatusValid, staging.StatusUploaded, staging.StatusImported, staging.StatusRejected}

// buildPackage streams a chunk's rows from staging into a package in a temp file.
func (s *Stages) buildPackage(ctx context.Context, c jobhistory.Chunk, spec datapackage.Spec) (*os.File, int64, error) {
	return s.tempFile(fmt.Sprintf("the package of job %d chunk %d", c.JobID, c.No), "package-*.zip", func(bw io.Writer) error {
		pw, err := datapackage.NewWriter(bw, spec)
		if err != nil {
			return err
		}
		if err := s.eachChunkRow(ctx, c, pw.WriteRow); err != nil {
			return err
		}
		if pw.Rows() != int64(c.RowCount) {
			return fmt.Errorf("%d rows in staging, %d planned", pw.Rows(), c.RowCount)
		}
		return pw.Close()
	})
}

// eachChunkRow calls fn with the staged values of each row a chunk sends: the rows of the
// chunk's own attempt (a chunk of a later attempt spans rows of earlier ones).
func (s *Stages) eachChunkRow(ctx context.Context, c jobhistory.Chunk, fn func(vals []string) error) error {
	attempt, err := s.hist(s.d.DB).ChunkAttempt(ctx, c.JobID, c.No)
	if err != nil {
		return err
	}
	return s.staging(s.d.DB).EachAttemptRow(ctx, c.JobID, attempt, c.FirstRow, c.LastRow, packageStatuses,
		func(_ int64, vals []string) error { return fn(vals) })
}

// withGroupLock runs fn holding the cluster-wide lock of a definition group: F&O does
// not support concurrent imports into one data project, whichever node sends them. The
// session lock lives on a connection kept for the call. A wait longer than report shows
// on the chunk's job's timeline.
func (s *Stages) withGroupLock(ctx context.Context, c jobhistory.Chunk, env, group string, report time.Duration, fn func() error) error {
	stop := s.reportWait(ctx, c.JobID, StepUpload, report, func(waited time.Duration) string {
		return fmt.Sprintf("chunk %d: waiting %s for definition group %s, which another import holds", c.No, waited.Round(time.Second), group)
	})
	locked := false
	defer func() {
		if !locked {
			stop()
		}
	}()
	// Within the process, callers queue here rather than each holding a pooled
	// connection while they wait for the database lock.
	gate := s.groupGate(env + "/" + group)
	select {
	case gate <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for definition group %s: %w", group, ctx.Err())
	}
	defer func() { <-gate }()
	conn, err := s.d.DB.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("locking definition group %s: %w", group, err)
	}
	defer conn.Release()
	hist := s.hist(conn)
	if err := hist.LockGroup(ctx, env, group); err != nil {
		return err
	}
	locked = true
	stop()
	defer func() {
		if err := hist.UnlockGroup(context.WithoutCancel(ctx), env, group); err != nil {
			// The session may still hold the lock: end it rather than pool it.
			s.d.Log.Warn("unlocking definition group; closing the connection", "group", group, "err", err)
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
		}
	}()
	return fn()
}

// reportWait records on a job's timeline, after first and then at doubling intervals,
// that something is still being waited for, until the returned stop is called.
func (s *Stages) reportWait(ctx context.Context, job int64, stage StepKind, first time.Duration, msg func(waited time.Duration) string) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	start := s.d.Now()
	go func() {
		defer close(exited)
		next := first
		for {
			t := time.NewTimer(next)
			select {
			case <-done:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			s.event(context.WithoutCancel(ctx), job, stage, "warn", msg(s.d.Now().Sub(start)), nil)
			next *= 2
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// awaitOrphanedImports waits, under the definition group's lock, for the imports of the
// group that a node sent and died before F&O answered: the dead node's lock is gone, but
// F&O may still be staging its package, and a second import of the group would then fail
// (DMF2025). Such an execution is recorded, unsubmitted and known to F&O; one that is
// only recorded (its upload waits for the lock, or never sent it) is unknown to F&O.
// Each question is a status call of that execution and keeps to its poll schedule.
func (s *Stages) awaitOrphanedImports(ctx context.Context, client *dmf.Client, ex jobhistory.Execution) error {
	hist := s.hist(s.d.DB)
	ids, err := hist.UnansweredImports(ctx, ex.Environment, ex.DefinitionGroup, ex.ID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		for n := 1; ; n++ {
			orphan, ok, err := hist.Execution(ctx, id)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if wait := s.pollWait(orphan); wait > 0 {
				if err := backoff.Sleep(ctx, wait); err != nil {
					return fmt.Errorf("waiting for execution %s: %w", id, err)
				}
			}
			// Its own upload, run again, may be asking about it too.
			st, err := client.GetExecutionSummaryStatus(s.claimed(ctx, id, orphan.Polls), id)
			if errors.Is(err, jobstep.ErrTurnTaken) {
				continue
			}
			if rerr := hist.RecordAnswer(ctx, id, jobstep.StatusSeen(st, err), false, ""); rerr != nil {
				return rerr
			}
			if dmf.IsExecutionNotFound(err) || (err == nil && st.Terminal()) {
				break
			}
			if err != nil {
				return fmt.Errorf("looking up execution %s, sent by a node that died: %w", id, err)
			}
			if age, deadline := s.d.Now().Sub(orphan.RecordedAt), s.pollSettings(ex.Environment).Deadline.D(); age > deadline {
				return &groupHeldError{group: ex.DefinitionGroup, execution: id, status: st, age: age, deadline: deadline}
			}
			if n == 1 {
				s.event(ctx, ex.JobID, StepUpload, "warn", fmt.Sprintf("chunk %d: waiting for execution %s (%s), sent to %s before a crash",
					ex.ChunkNo, id, st, ex.DefinitionGroup), map[string]any{"chunk": ex.ChunkNo, "execution": id})
			}
		}
	}
	return nil
}

// groupHeldError is a definition group held by an execution that a node sent and died
// before F&O answered, and that has not ended within the poll deadline: no import of the
// group can go in after it.
type groupHeldError struct {
	group, execution string
	status           dmf.ExecutionStatus
	age, deadline    time.Duration
}

func (e *groupHeldError) Error() string {
	return fmt.Sprintf("definition group %s is held by execution %s, sent before a crash and still %s in F&O after %s "+
		"(poll deadline %s): nothing more can be imported into it until F&O ends that execution", e.group, e.execution,
		e.status, e.age.Round(time.Second), e.deadline)
}

// groupGate returns the in-process gate of a definition group: a channel of capacity 1.
func (s *Stages) groupGate(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gates[key]
	if !ok {
		g = make(chan struct{}, 1)
		s.gates[key] = g
	}
	return g
}

// Submitted records that F&O has a chunk's execution: the chunk is importing, its rows
// uploaded, and a poll follows the execution. It is safe to repeat, and does nothing more
// than record the submission once the chunk has ended (its poll may have run first).
func (s *Stages) Submitted(ctx context.Context, j *jobhistory.Job, c jobhistory.Chunk, execID, blobID string) error {
	return pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
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
		if _, err := s.staging(tx).SetStatus(ctx, c.JobID, c.FirstRow, c.LastRow, staging.StatusUploaded, staging.StatusValid); err != nil {
			return err
		}
		if err := hist.SetStage(ctx, c.JobID, "poll"); err != nil {
			return err
		}
		// The first poll runs at once (F&O answered after staging, the status may
		// already tell); later ones snooze following the environment's poll settings.
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepPoll, Job: j, Execution: execID})
	})
}

// FailChunk ends a chunk as failed: its rows that F&O did not import become not
// imported, with why, for an operator; the job is finalized when it was the last open
// chunk. A chunk that has ended meanwhile keeps its end. The step is dropped.
func (s *Stages) FailChunk(ctx context.Context, c jobhistory.Chunk, cause error) error {
	ended := false
	err := pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		c, err := hist.LockChunk(ctx, c.JobID, c.No)
		if ended = jobhistory.ChunkTerminal(c.Status); err != nil || ended {
			return err
		}
		if err := hist.SetChunkStatus(ctx, c.JobID, c.No, jobhistory.ChunkFailed, cause.Error()); err != nil {
			return err
		}
		n, err := s.staging(tx).MarkNotImported(ctx, c.JobID, c.FirstRow, c.LastRow, uploadStatuses,
			fmt.Sprintf("not imported: chunk %d failed: %s", c.No, cause))
		if err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, c.JobID, string(StepUpload), "error", fmt.Sprintf("chunk %d failed: %s; its %d rows wait in staging", c.No, cause, n),
			map[string]any{"chunk": c.No}); err != nil {
			return err
		}
		return s.finalizeIfDone(ctx, tx, c.JobID)
	})
	if err != nil {
		return fmt.Errorf("failing job %d chunk %d (%w): %w", c.JobID, c.No, cause, err)
	}
	if ended {
		return nil
	}
	return permanent(cause)
}

// finalizeIfDone inserts the job's finalize once none of its chunks is open.
func (s *Stages) finalizeIfDone(ctx context.Context, tx pgx.Tx, job int64) error {
	hist := s.hist(tx)
	// Serialise the chunks of one job ending at once, so that the last one sees the others.
	if err := hist.LockJobChunks(ctx, job); err != nil {
		return err
	}
	open, err := hist.ChunksPending(ctx, job)
	if err != nil || open > 0 {
		return err
	}
	j, err := hist.Job(ctx, job)
	if err != nil {
		return err
	}
	return s.d.Steps.Insert(ctx, tx, Step{Kind: StepFinalize, Job: j})
}
