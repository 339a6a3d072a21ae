package worker

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/staging"
)

// notifyErrors is how many row errors a notification lists.
const notifyErrors = 10

// notifyWorker sends a finished job's notification, in its own retried job so that a
// slow or refusing mail server never holds an import.
type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	w *Worker
}

func (n *notifyWorker) Timeout(*river.Job[NotifyArgs]) time.Duration { return stageNotify.timeout }

func (n *notifyWorker) NextRetry(job *river.Job[NotifyArgs]) time.Time {
	return stageNotify.nextRetry(job.Attempt)
}

func (n *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	w := n.w
	if w.notifier == nil {
		return river.JobCancel(errors.New("no notifier configured"))
	}
	msg, err := w.notification(ctx, job.Args.JobID)
	if errors.Is(err, jobhistory.ErrJobNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if err := w.notifier.Send(ctx, msg); err != nil {
		w.event(ctx, msg.ID, "notify", "warn", "notification not sent: "+err.Error(), map[string]any{"attempt": job.Attempt})
		if notify.IsPermanent(err) {
			return river.JobCancel(err)
		}
		return err
	}
	w.event(ctx, msg.ID, "notify", "info", "notification sent", nil)
	return nil
}

// notification is the summary a finished job's notification carries.
func (w *Worker) notification(ctx context.Context, id int64) (notify.Job, error) {
	j, err := history(w.pool).Job(ctx, id)
	if err != nil {
		return notify.Job{}, err
	}
	msg := notify.Job{
		Project: j.Project, ID: j.ID, Trigger: j.Trigger, Status: notify.Status(j.Status),
		Counts: notify.Counts{Read: j.Counts.Read, Staged: j.Counts.Staged, Invalid: j.Counts.Invalid,
			Uploaded: j.Counts.Uploaded, Imported: j.Counts.Imported, Rejected: j.Counts.Rejected},
		Chunks: j.ChunksTotal, Started: j.StartedAt, Error: j.Error, ConsoleURL: w.cfg.Console.BaseURL,
	}
	if !j.FinishedAt.IsZero() && !j.StartedAt.IsZero() {
		msg.Duration = j.FinishedAt.Sub(j.StartedAt)
	}
	if j.SourceFileID != 0 {
		entry, err := jobhistory.NewLedger(w.pool).Get(ctx, j.SourceFileID)
		if err != nil {
			return msg, err
		}
		msg.File = entry.File.Name
	}
	errs, err := w.staging.FirstErrors(ctx, id, notifyErrors)
	if err != nil && !errors.Is(err, staging.ErrNoJob) {
		return msg, err
	}
	for _, e := range errs {
		msg.Errors = append(msg.Errors, notify.RowError{Line: e.Line, Sheet: e.Sheet, Column: e.Column, Field: e.Field,
			Rule: string(e.Rule), Message: e.Msg})
	}
	return msg, nil
}
