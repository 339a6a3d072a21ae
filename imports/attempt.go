package imports

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// Sending a job again, and stopping one. An ended job's rows go to F&O again as a new
// attempt of the same job: the rows operators fixed (Resubmit), or those F&O never gave
// a verdict on because their chunk failed (Retry), with any valid row never sent. They
// are cut into new chunks numbered after the job's others, each uploaded and polled by
// the same stages as the first attempt (execution ids <project>-<job>-<chunk>-<attempt>,
// the definition groups' lanes and locks, the environment's request limit), F&O's new
// errors come back onto the rows, and the job runs until its finalize ends it again:
// succeeded once every row is imported or set aside by an operator.

// ErrJobRunning is returned (wrapped) for an action that needs an ended job.
var ErrJobRunning = errors.New("the job has not ended")

// ErrJobEnded is returned (wrapped) for cancelling a job that has ended.
var ErrJobEnded = errors.New("the job has already ended")

// ErrNothingToSend is returned (wrapped) when a job has no row a new attempt would send.
var ErrNothingToSend = errors.New("no row to send")

// ErrNotSendable is returned (wrapped) for a job whose rows never go to F&O: a dry run,
// an export.
var ErrNotSendable = errors.New("the job's rows are not sent to F&O")

// NewAttempt is a job's attempt just started.
type NewAttempt struct {
	Job     *jobhistory.Job
	Attempt int
	// Rows are the rows it sends, in Chunks chunks from FirstChunk on.
	Rows       int64
	FirstChunk int
	Chunks     int
}

// Resubmit sends the rows operators fixed in an ended job (and any valid row never
// sent) to F&O as a new attempt, as actor. foreground marks the attempt's steps for a
// foreground run to work (the CLI that waits for it), else the cluster works them.
func (s *Stages) Resubmit(ctx context.Context, actor string, job int64, foreground bool) (NewAttempt, error) {
	return s.newAttempt(ctx, actor, job, foreground, jobhistory.AttemptResubmit, staging.ResendFixed)
}

// Retried is what Retry did.
type Retried struct {
	// Attempt is the new attempt of an ended job; nil for a running one.
	Attempt *NewAttempt
	// Hurried is set for a running job: its waiting steps run now.
	Hurried bool
}

// Retry gets a job going again, as actor. A job still running has its waiting steps
// (retries after a failure, snoozed polls) made runnable now through River's JobRetry,
// and any step it lacks offered again. An ended job's rows that F&O gave no verdict on
// (not imported: their chunk failed, or the job was canceled) go to F&O again as a new
// attempt (see Resubmit for foreground).
func (s *Stages) Retry(ctx context.Context, actor string, job int64, foreground bool) (Retried, error) {
	hist := s.hist(s.d.DB)
	j, err := hist.Job(ctx, job)
	if err != nil {
		return Retried{}, err
	}
	if !jobhistory.JobTerminal(j.Status) {
		execs, err := hist.ExecutionIDs(ctx, job)
		if err != nil {
			return Retried{}, err
		}
		if err := s.d.Steps.Hurry(ctx, []int64{job}, execs); err != nil {
			return Retried{}, err
		}
		if err := s.reoffer(ctx, job, 0); err != nil {
			return Retried{}, err
		}
		if _, err := jobhistory.NewAudit(s.d.DB).Add(ctx, jobhistory.Entry{Job: job, Actor: actor, Action: jobhistory.ActionRetry,
			Attrs: map[string]any{"running": true}}); err != nil {
			return Retried{}, err
		}
		s.operatorEvent(ctx, actor, job, "info", fmt.Sprintf("%s asked for a retry: the job's waiting steps run now", actor), nil)
		return Retried{Hurried: true}, nil
	}
	a, err := s.newAttempt(ctx, actor, job, foreground, jobhistory.AttemptRetry, staging.ResendNotImported)
	if errors.Is(err, staging.ErrNoJob) {
		return Retried{}, fmt.Errorf("job %d %s before any row was staged (%s): run its project again: %w",
			job, j.Status, j.Error, ErrNothingToSend)
	}
	if err != nil {
		return Retried{}, err
	}
	return Retried{Attempt: &a}, nil
}

// newAttempt starts a new attempt of an ended job that sends the rows which selects,
// in one transaction with its chunks, its upload steps, its event and audit entry.
func (s *Stages) newAttempt(ctx context.Context, actor string, job int64, foreground bool, trigger string, which staging.Resend) (NewAttempt, error) {
	j, err := s.hist(s.d.DB).Job(ctx, job)
	if err != nil {
		return NewAttempt{}, err
	}
	if j.Kind != "import" || j.DryRun {
		return NewAttempt{}, fmt.Errorf("job %d is a dry run or not an import: %w", job, ErrNotSendable)
	}
	p, err := s.d.Projects(j.Project)
	if err != nil {
		return NewAttempt{}, fmt.Errorf("sending job %d again needs its project: %w", job, err)
	}
	var out NewAttempt
	err = pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := jobhistory.NewStore(tx).As(actor)
		j, err := hist.LockJob(ctx, job)
		if err != nil {
			return err
		}
		if !jobhistory.JobTerminal(j.Status) {
			return fmt.Errorf("job %d is %s (attempt %d): %w", job, j.Status, j.Attempt, ErrJobRunning)
		}
		store := staging.NewStore(tx)
		if _, err := store.Layout(ctx, job); err != nil {
			return err
		}
		first, err := hist.NextChunk(ctx, job)
		if err != nil {
			return err
		}
		attempt := j.Attempt + 1
		n, err := store.StartAttempt(ctx, job, attempt, which)
		if err != nil {
			return err
		}
		if n == 0 {
			what := "fixed"
			if which == staging.ResendNotImported {
				what = "not imported"
			}
			return fmt.Errorf("job %d has no %s rows: %w", job, what, ErrNothingToSend)
		}
		ranges, err := store.CutChunks(ctx, job, p.Target.ChunkRows, staging.StatusValid)
		if err != nil {
			return err
		}
		chunks := PlanChunks(job, ranges, p.Target.Lanes, first)
		if err := hist.InsertChunks(ctx, job, chunks); err != nil {
			return err
		}
		no, err := hist.StartAttempt(ctx, jobhistory.Attempt{Job: job, Trigger: trigger, FirstChunk: first, Chunks: len(chunks), Rows: n}, foreground)
		if err != nil {
			return err
		}
		if no != attempt {
			return fmt.Errorf("job %d: attempt %d started while attempt %d was planned", job, no, attempt)
		}
		what := map[string]string{jobhistory.AttemptResubmit: "fixed by operators", jobhistory.AttemptRetry: "that F&O gave no verdict on"}[trigger]
		if err := hist.AddEvent(ctx, job, trigger, "info", fmt.Sprintf("attempt %d by %s: %d rows %s sent again as chunks %d-%d",
			attempt, actor, n, what, first, first+len(chunks)-1),
			map[string]any{"attempt": attempt, "rows": n, "first_chunk": first, "chunks": len(chunks)}); err != nil {
			return err
		}
		if _, err := jobhistory.NewAudit(tx).Add(ctx, jobhistory.Entry{Job: job, Actor: actor, Action: trigger, Matched: n, Rows: n,
			Attrs: map[string]any{"attempt": attempt, "first_chunk": first, "chunks": len(chunks)}}); err != nil {
			return err
		}
		if j, err = hist.Job(ctx, job); err != nil {
			return err
		}
		steps := make([]Step, len(chunks))
		for i, c := range chunks {
			steps[i] = Step{Kind: StepUpload, Job: j, Chunk: c.No}
		}
		out = NewAttempt{Job: j, Attempt: attempt, Rows: n, FirstChunk: first, Chunks: len(chunks)}
		return s.d.Steps.Insert(ctx, tx, steps...)
	})
	if err != nil {
		return NewAttempt{}, fmt.Errorf("sending job %d again: %w", job, err)
	}
	return out, nil
}

// Canceled is what Cancel did.
type Canceled struct {
	Job *jobhistory.Job
	// Steps is how many of the job's River jobs were canceled; NotImported how many rows
	// were left not imported (they wait in staging for a retry).
	Steps       int
	NotImported int64
}

// Cancel stops a job that has not ended, as actor, in one transaction: its waiting and
// running steps are canceled through River's JobCancel (a running one is told to stop),
// its open chunks end canceled, the rows they had not yet had a verdict on become not
// imported (saying whether F&O may have them), and the job ends canceled with its
// counts. Its file stays where it is. Rows not imported can be sent again with Retry.
func (s *Stages) Cancel(ctx context.Context, actor string, job int64) (Canceled, error) {
	var out Canceled
	err := pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := jobhistory.NewStore(tx).As(actor)
		// The chunks are locked before the job, in the order the stages lock them (a
		// chunk, then its job's row).
		chunks, err := hist.Chunks(ctx, job)
		if err != nil {
			return err
		}
		for i, c := range chunks {
			if chunks[i], err = hist.LockChunk(ctx, job, c.No); err != nil {
				return err
			}
		}
		j, err := hist.LockJob(ctx, job)
		if err != nil {
			return err
		}
		if jobhistory.JobTerminal(j.Status) {
			return fmt.Errorf("job %d is %s: %w", job, j.Status, ErrJobEnded)
		}
		execs, err := hist.ExecutionIDs(ctx, job)
		if err != nil {
			return err
		}
		if out.Steps, err = s.d.Steps.Cancel(ctx, tx, job, execs); err != nil {
			return err
		}
		store := staging.NewStore(tx)
		_, err = store.Layout(ctx, job)
		staged := err == nil
		if err != nil && !errors.Is(err, staging.ErrNoJob) {
			return err
		}
		for _, c := range chunks {
			if jobhistory.ChunkTerminal(c.Status) {
				continue
			}
			if err := hist.SetChunkStatus(ctx, job, c.No, jobhistory.ChunkCanceled, "canceled by "+actor); err != nil {
				return err
			}
			if !staged {
				continue
			}
			why := fmt.Sprintf("not imported: the job was canceled by %s before chunk %d was sent", actor, c.No)
			if c.Status != jobhistory.ChunkPending {
				why = fmt.Sprintf("not imported: the job was canceled by %s while chunk %d was %s: whether F&O imported this row is unknown; "+
					"look it up in F&O before sending it again", actor, c.No, c.Status)
			}
			n, err := store.MarkNotImported(ctx, job, c.FirstRow, c.LastRow, uploadStatuses, why)
			if err != nil {
				return err
			}
			out.NotImported += n
		}
		counts := j.Counts
		if staged {
			n, err := store.MarkNotImported(ctx, job, 0, 1<<62, uploadStatuses,
				fmt.Sprintf("not imported: the job was canceled by %s before this row was sent", actor))
			if err != nil {
				return err
			}
			out.NotImported += n
			sc, err := store.Counts(ctx, job)
			if err != nil {
				return err
			}
			notImported, err := store.NotImported(ctx, job)
			if err != nil {
				return err
			}
			counts = JobCounts(j.Counts.Read, sc, notImported)
		}
		msg := "canceled by " + actor
		if err := hist.FinishIn(ctx, job, "cancel", jobhistory.JobCanceled, counts, msg); err != nil {
			return err
		}
		if j.SourceFileID != 0 {
			ledger := jobhistory.NewLedger(tx)
			entry, err := ledger.Get(ctx, j.SourceFileID)
			if err != nil {
				return err
			}
			outcome := jobhistory.OutcomeFailed
			if counts.Imported > 0 {
				outcome = jobhistory.OutcomePartial
			}
			if entry.Outcome != jobhistory.OutcomeDuplicate {
				if err := ledger.SetOutcome(ctx, entry.ID, outcome, entry.MovedTo); err != nil {
					return err
				}
			}
		}
		if err := hist.AddEvent(ctx, job, "cancel", "warn", fmt.Sprintf("job canceled by %s: %d steps stopped, %d rows not imported wait in staging",
			actor, out.Steps, out.NotImported), map[string]any{"steps": out.Steps, "not_imported": out.NotImported}); err != nil {
			return err
		}
		if _, err := jobhistory.NewAudit(tx).Add(ctx, jobhistory.Entry{Job: job, Actor: actor, Action: jobhistory.ActionCancel,
			Rows: out.NotImported, Attrs: map[string]any{"steps": out.Steps, "attempt": j.Attempt}}); err != nil {
			return err
		}
		out.Job, err = hist.Job(ctx, job)
		return err
	})
	if err != nil {
		return Canceled{}, fmt.Errorf("canceling job %d: %w", job, err)
	}
	return out, nil
}
