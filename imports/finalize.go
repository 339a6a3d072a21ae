package imports

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/staging"
)

// Finalize ends a job once every chunk has: every row accounted for, the job's status and
// counts, the file moved to the archive or errors folder, the notification step.
func (s *Stages) Finalize(ctx context.Context, id int64) error {
	hist := s.hist(s.d.DB)
	j, err := s.job(ctx, id)
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
		return permanent(fmt.Errorf("job %d still has %d chunks running", id, pending))
	}
	p, err := s.admit(ctx, j, StepFinalize)
	if err != nil {
		return err
	}
	store := s.staging(s.d.DB)
	counts := j.Counts
	if j.Error == "" {
		// Rows still valid or uploaded here were never sent, or sent without a verdict
		// (a chunk the plan missed, a verdict lost): none may leave the job unaccounted
		// for, and the file is not archived as done while they are.
		n, err := store.MarkNotImported(ctx, id, 0, 1<<62, uploadStatuses,
			"not imported: the job ended before F&O gave a verdict on this row")
		switch {
		case errors.Is(err, staging.ErrNoJob):
		case err != nil:
			return err
		case n > 0:
			s.event(ctx, id, StepFinalize, "warn", fmt.Sprintf("%d rows had no verdict of F&O when the job ended: they wait in staging as not imported", n), nil)
		}
	}
	sc, err := store.Counts(ctx, id)
	switch {
	case errors.Is(err, staging.ErrNoJob):
	case err != nil:
		return err
	default:
		notImported, err := store.NotImported(ctx, id)
		if err != nil {
			return err
		}
		counts = JobCounts(j.Counts.Read, sc, notImported)
	}
	status := JobOutcome(sc, j.Error)
	if errors.Is(err, staging.ErrNoJob) {
		status = jobhistory.JobFailed
		if j.Error == "" {
			status = jobhistory.JobSucceeded
		}
	}
	outcome, folder := jobhistory.OutcomeImported, p.Source.Archive
	switch status {
	case jobhistory.JobPartiallySucceeded:
		outcome = jobhistory.OutcomePartial
	case jobhistory.JobFailed:
		outcome, folder = jobhistory.OutcomeFailed, p.Source.Errors
	}
	movedTo, err := s.moveFile(ctx, j, outcome, folder)
	if err != nil {
		return err
	}
	why := ""
	if j.Error == "" {
		if why, err = s.chunkFailures(ctx, id); err != nil {
			return err
		}
	}
	return s.finish(ctx, j, p, status, counts, why, movedTo)
}

// chunkFailures says why a job's chunks failed, for the job's error: the first failed
// chunk's error and how many more failed; "" when none did.
func (s *Stages) chunkFailures(ctx context.Context, job int64) (string, error) {
	chunks, err := s.hist(s.d.DB).Chunks(ctx, job)
	if err != nil {
		return "", err
	}
	var failed []jobhistory.Chunk
	for _, c := range chunks {
		if c.Status == jobhistory.ChunkFailed || c.Status == jobhistory.ChunkCanceled {
			failed = append(failed, c)
		}
	}
	if len(failed) == 0 {
		return "", nil
	}
	why := fmt.Sprintf("chunk %d failed", failed[0].No)
	if failed[0].Error != "" {
		why += ": " + failed[0].Error
	}
	if len(failed) > 1 {
		why += fmt.Sprintf(" (and %d more chunks failed)", len(failed)-1)
	}
	return why, nil
}

// moveFile moves a job's file to folder (nothing when folder is empty, or for a local
// file of `run --file`, read in place) and records the outcome in the ledger. A file
// already moved by an earlier attempt is not moved again.
func (s *Stages) moveFile(ctx context.Context, j *jobhistory.Job, outcome jobhistory.Outcome, folder string) (string, error) {
	if j.SourceFileID == 0 {
		return "", nil
	}
	ledger := jobhistory.NewLedger(s.d.DB)
	entry, err := ledger.Get(ctx, j.SourceFileID)
	if err != nil {
		return "", err
	}
	movedTo := entry.MovedTo
	if movedTo == "" && folder != "" && entry.Connection != LocalFiles {
		src, err := s.d.Source(ctx, entry.Connection)
		if err != nil {
			return "", err
		}
		defer src.Close()
		movedTo, err = src.Move(ctx, entry.File.Name, folder)
		if errors.Is(err, ingest.ErrNotExist) {
			movedTo, err = s.movedEarlier(ctx, src, j, entry, folder)
		}
		if err != nil {
			return "", fmt.Errorf("moving %s to %s: %w", entry.File.Name, folder, err)
		}
	}
	if err := ledger.SetOutcome(ctx, entry.ID, outcome, movedTo); err != nil {
		return "", err
	}
	return movedTo, nil
}

// movedEarlier accounts for a job's file that is no longer in the source when the
// finalize moves it: an earlier attempt that crashed before recording the move left it
// in folder (it is recorded there), or someone else moved or deleted it (a warning).
func (s *Stages) movedEarlier(ctx context.Context, src ingest.Source, j *jobhistory.Job, entry *jobhistory.LedgerEntry, folder string) (string, error) {
	there := path.Join(folder, path.Base(entry.File.Name))
	fi, err := src.Stat(ctx, there)
	switch {
	case err == nil && fi.Size == entry.File.Size:
		return fi.Name, nil
	case err == nil || errors.Is(err, ingest.ErrNotExist):
		s.event(ctx, j.ID, StepFinalize, "warn", fmt.Sprintf("%s is no longer in the source (moved or deleted by someone else): not moved to %s", entry.File.Name, folder), nil)
		return "", nil
	}
	return "", err
}

// skipDuplicate ends a job whose file repeats content already imported: its staged rows
// are dropped and the file goes to the archive folder; nothing is sent to F&O.
func (s *Stages) skipDuplicate(ctx context.Context, j *jobhistory.Job, p *Project, entry, prior *jobhistory.LedgerEntry) error {
	if err := s.staging(s.d.DB).Drop(ctx, j.ID); err != nil {
		return err
	}
	msg := fmt.Sprintf("duplicate: %s has the same content as %s (ledger entry %d)", entry.File.Name, prior.File.Name, prior.ID)
	movedTo, err := s.moveFile(ctx, j, jobhistory.OutcomeDuplicate, p.Source.Archive)
	if err != nil {
		return err
	}
	j, err = s.job(ctx, j.ID)
	if err != nil {
		return err
	}
	return s.finish(ctx, j, p, jobhistory.JobSkipped, j.Counts, msg, movedTo)
}

// finish ends a job: its status and counts, the last event and, when the project asks
// for it, the notify step, in one transaction.
func (s *Stages) finish(ctx context.Context, j *jobhistory.Job, p *Project, status string, c jobhistory.JobCounts, msg, movedTo string) error {
	err := s.record(ctx, j, p, status, c, msg, movedTo)
	if err != nil {
		return err
	}
	if !s.d.Foreground { // a foreground run prints its own summary
		s.logEnd(ctx, j, status, c, cmp.Or(msg, j.Error))
	}
	if s.d.Observer != nil {
		s.d.Observer.JobEnded(j.Project, status, c, s.d.Now().Sub(j.CreatedAt))
	}
	return nil
}

// record is finish's transaction.
func (s *Stages) record(ctx context.Context, j *jobhistory.Job, p *Project, status string, c jobhistory.JobCounts, msg, movedTo string) error {
	return pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
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
		if c.NotImported > 0 {
			text += fmt.Sprintf(", %d not imported", c.NotImported)
		}
		if msg != "" {
			text += "; " + msg
		}
		attrs := map[string]any{"status": status, "imported": c.Imported, "invalid": c.Invalid, "rejected": c.Rejected,
			"not_imported": c.NotImported}
		if movedTo != "" {
			attrs["moved_to"] = movedTo
		}
		if err := hist.AddEvent(ctx, j.ID, string(StepFinalize), level, text, attrs); err != nil {
			return err
		}
		if p == nil || p.Notify == nil || s.d.Notifier == nil || !notify.ShouldNotify(p.Notify.On, notify.Status(status)) {
			return nil
		}
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepNotify, Job: j})
	})
}

// logEnd logs a job's outcome, at error for a failed job and at warn for a partial one.
func (s *Stages) logEnd(ctx context.Context, j *jobhistory.Job, status string, c jobhistory.JobCounts, reason string) {
	level := slog.LevelInfo
	switch status {
	case jobhistory.JobFailed:
		level = slog.LevelError
	case jobhistory.JobPartiallySucceeded:
		level = slog.LevelWarn
	}
	attrs := []any{"project", j.Project, "job", j.ID, "status", status, "read", c.Read, "staged", c.Staged,
		"invalid", c.Invalid, "imported", c.Imported, "rejected", c.Rejected, "not_imported", c.NotImported,
		"duration", s.d.Now().Sub(j.CreatedAt).Round(time.Millisecond)}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	s.d.Log.Log(ctx, level, "job ended", attrs...)
}
