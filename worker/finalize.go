package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/staging"
)

// finalizeWorker ends a job once every chunk has: its status and counts, the file moved
// to the archive or errors folder, the notification.
type finalizeWorker struct {
	river.WorkerDefaults[FinalizeArgs]
	w *Worker
}

func (f *finalizeWorker) Timeout(*river.Job[FinalizeArgs]) time.Duration {
	return stageFinalize.timeout
}

func (f *finalizeWorker) NextRetry(job *river.Job[FinalizeArgs]) time.Time {
	return stageFinalize.nextRetry(job.Attempt)
}

func (f *finalizeWorker) Work(ctx context.Context, job *river.Job[FinalizeArgs]) error {
	w, id := f.w, job.Args.JobID
	hist := history(w.pool)
	j, err := stageJob(ctx, hist, id)
	if err != nil {
		return err
	}
	if jobhistory.JobTerminal(j.Status) {
		return nil
	}
	pending, err := hist.ChunksPending(ctx, id)
	if err != nil {
		return err
	}
	if pending > 0 {
		return river.JobCancel(fmt.Errorf("job %d still has %d chunks running", id, pending))
	}
	counts := j.Counts
	sc, err := w.staging.Counts(ctx, id)
	switch {
	case errors.Is(err, staging.ErrNoJob):
	case err != nil:
		return err
	default:
		counts.Staged, counts.Invalid = sc.Total, sc.Invalid
		counts.Uploaded = sc.Uploaded + sc.Imported + sc.Rejected
		counts.Imported, counts.Rejected = sc.Imported, sc.Rejected
	}
	status := jobStatus(j, counts)
	p, err := w.project(j.Project)
	if err != nil {
		// The project left the configuration: the job still ends, its file stays.
		return w.finish(ctx, j, nil, status, counts, "", "")
	}
	outcome, folder := jobhistory.OutcomeImported, p.Source.Archive
	switch status {
	case jobhistory.JobPartiallySucceeded:
		outcome = jobhistory.OutcomePartial
	case jobhistory.JobFailed:
		outcome, folder = jobhistory.OutcomeFailed, p.Source.Errors
	}
	movedTo, err := w.moveFile(ctx, p, j, outcome, folder)
	if err != nil {
		return err
	}
	return w.finish(ctx, j, p, status, counts, "", movedTo)
}

// jobStatus is how a job ended, from its rows: succeeded when every row was imported
// (or there was none), partially succeeded when some were, failed otherwise.
func jobStatus(j *jobhistory.Job, c jobhistory.JobCounts) string {
	waiting := c.Invalid + c.Rejected
	switch {
	case j.Error != "" && c.Imported == 0:
		return jobhistory.JobFailed
	case waiting == 0 && c.Imported == c.Staged:
		return jobhistory.JobSucceeded
	case c.Imported > 0:
		return jobhistory.JobPartiallySucceeded
	}
	return jobhistory.JobFailed
}

// moveFile moves a job's file to folder (nothing when folder is empty) and records the
// outcome in the ledger. A file already moved by an earlier attempt is not moved again.
func (w *Worker) moveFile(ctx context.Context, p *config.Project, j *jobhistory.Job, outcome jobhistory.Outcome, folder string) (string, error) {
	if j.SourceFileID == 0 {
		return "", nil
	}
	ledger := jobhistory.NewLedger(w.pool)
	entry, err := ledger.Get(ctx, j.SourceFileID)
	if err != nil {
		return "", err
	}
	movedTo := entry.MovedTo
	if movedTo == "" && folder != "" {
		src, err := w.openSource(ctx, p)
		if err != nil {
			return "", err
		}
		defer src.Close()
		movedTo, err = src.Move(ctx, entry.File.Name, folder)
		if errors.Is(err, ingest.ErrNotExist) {
			// Moved by an attempt that crashed before recording it, or by someone else.
			w.log.Warn("source file is gone; not moved", "job", j.ID, "file", entry.File.Name)
			movedTo = ""
		} else if err != nil {
			return "", fmt.Errorf("moving %s to %s: %w", entry.File.Name, folder, err)
		}
	}
	if err := ledger.SetOutcome(ctx, entry.ID, outcome, movedTo); err != nil {
		return "", err
	}
	return movedTo, nil
}

// skipDuplicate ends a job whose file repeats content already imported: its staged rows
// are dropped and the file goes to the archive folder; nothing is sent to F&O.
func (w *Worker) skipDuplicate(ctx context.Context, job int64, entry *jobhistory.LedgerEntry, prior *jobhistory.LedgerEntry) error {
	j, err := history(w.pool).Job(ctx, job)
	if err != nil {
		return err
	}
	if err := w.staging.Drop(ctx, job); err != nil {
		return err
	}
	p, err := w.project(j.Project)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("duplicate: %s has the same content as %s (ledger entry %d)", entry.File.Name, prior.File.Name, prior.ID)
	movedTo, err := w.moveFile(ctx, p, j, jobhistory.OutcomeDuplicate, p.Source.Archive)
	if err != nil {
		return err
	}
	return w.finish(ctx, j, p, jobhistory.JobSkipped, j.Counts, msg, movedTo)
}

// finish ends a job: its status and counts, the last event and, when the project asks
// for it, the notify job, in one transaction.
func (w *Worker) finish(ctx context.Context, j *jobhistory.Job, p *config.Project, status string, c jobhistory.JobCounts, msg, movedTo string) error {
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		hist := history(tx)
		if err := hist.Finish(ctx, j.ID, status, c, msg); err != nil {
			return err
		}
		level := "info"
		switch status {
		case jobhistory.JobFailed:
			level = "error"
		case jobhistory.JobPartiallySucceeded:
			level = "warn"
		}
		text := fmt.Sprintf("job %s: %d imported, %d invalid, %d rejected by F&O", status, c.Imported, c.Invalid, c.Rejected)
		if msg != "" {
			text += "; " + msg
		}
		attrs := map[string]any{"status": status, "counts": c}
		if movedTo != "" {
			attrs["moved_to"] = movedTo
		}
		if err := hist.AddEvent(ctx, j.ID, "finalize", level, text, attrs); err != nil {
			return err
		}
		if p == nil || p.Notify == nil || w.notifier == nil || !notify.ShouldNotify(p.Notify.On, notify.Status(status)) {
			return nil
		}
		_, err := w.client.InsertTx(ctx, tx, NotifyArgs{JobID: j.ID}, nil)
		return err
	})
}
