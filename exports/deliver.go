package exports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/internal/tempfile"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Deliver writes one package of a job to the destination: a package export's, once F&O
// gives its URL (downloaded from the SAS URL, without the bearer token), or a recurring
// message's (see deliverMessage). The package is streamed to a temporary file, then its
// entities to their files; a delivery run again after a crash writes the same files.
func (s *Stages) Deliver(ctx context.Context, at imports.Attempt, jobID int64, unit string) error {
	j, err := s.job(ctx, jobID)
	if err != nil || jobhistory.JobTerminal(j.Status) {
		return err
	}
	p, err := s.admit(ctx, j, StepDeliver)
	if err != nil {
		return err
	}
	if p.Recurring() {
		return s.deliverMessage(ctx, at, j, p, unit)
	}
	hist := s.hist(s.d.DB)
	ex, ok, err := hist.Execution(ctx, unit)
	if err != nil {
		return err
	}
	if !ok {
		return permanent(fmt.Errorf("job %d: execution %s is not recorded", j.ID, unit))
	}
	client, err := s.d.DMF(ex.Environment)
	if err != nil {
		return err
	}
	if wait := s.pollWait(ex); wait > 0 {
		return snooze(wait)
	}
	// The URL is asked for each attempt (a SAS URL expires) and never stored.
	v, err := client.GetExportedPackageURL(s.base.Claimed(ctx, ex.ID, ex.Polls), ex.ID)
	sinceEnd := s.d.Now().Sub(ex.FinishedAt)
	u, ready := PackageURL(v)
	switch {
	case errors.Is(err, jobstep.ErrTurnTaken):
		return snooze(s.pollInterval(ex.Environment, ex.Polls+1))
	case err != nil && !(dmf.IsExecutionNotFound(err) && sinceEnd < notFoundGrace):
		return s.retryOrFail(ctx, at, j, StepDeliver, err)
	case err != nil || !ready:
		if rerr := hist.RecordAnswer(ctx, ex.ID, "", true, ""); rerr != nil {
			return rerr
		}
		if deadline := s.pollSettings(ex.Environment).Deadline.D(); sinceEnd > deadline {
			return s.FailJob(ctx, j, StepDeliver, fmt.Errorf("execution %s ended %s but F&O gave no package URL within %s (poll deadline)",
				ex.ID, ex.DMFStatus, deadline))
		}
		return snooze(s.pollInterval(ex.Environment, ex.Polls+1))
	}
	pkg, size, err := s.download(ctx, func(w io.Writer) (int64, error) { return client.DownloadBlob(ctx, u, w) })
	if err != nil {
		return s.retryDelivery(ctx, at, j, fmt.Errorf("downloading the package of %s: %w", ex.ID, err))
	}
	defer s.discard(pkg)
	man := Manifest{Project: p.Name, Job: j.ID, Execution: ex.ID, Status: ex.DMFStatus, DefinitionGroup: p.DefinitionGroup,
		LegalEntity: p.LegalEntity, ExportedAt: j.CreatedAt.UTC()}
	res, err := s.writePackage(ctx, j, p, ex.ID, pkg, size, man)
	if err != nil {
		return s.retryDelivery(ctx, at, j, err)
	}
	return s.next(ctx, j, "finalize", Step{Kind: StepFinalize, Job: j},
		fmt.Sprintf("package of %s (%d bytes) delivered: %d rows in %d files to %s", ex.ID, size, res.rows, len(res.files), p.Destination.Connection),
		map[string]any{"rows": res.rows, "files": len(res.files), "package_bytes": size})
}

// retryDelivery fails the job for a package that cannot be written as the project says
// (a ContentError) and on the step's last attempt; other failures (the network, the
// destination) are retried.
func (s *Stages) retryDelivery(ctx context.Context, at imports.Attempt, j *jobhistory.Job, err error) error {
	var ce *ContentError
	if errors.As(err, &ce) {
		return s.FailJob(ctx, j, StepDeliver, err)
	}
	if at.Last() {
		return s.FailJob(ctx, j, StepDeliver, fmt.Errorf("giving up after %d attempts: %w", at.N, err))
	}
	return err
}

// download streams a package into a temporary file (fetch writes it; a broken transfer
// it restarts rewinds the file) and returns the file, rewound, and its size.
func (s *Stages) download(ctx context.Context, fetch func(io.Writer) (int64, error)) (*os.File, int64, error) {
	f, err := tempfile.Create(s.d.TempDir, "export-*.zip")
	if err != nil {
		return nil, 0, fmt.Errorf("spooling the package: %w", err)
	}
	n, err := fetch(f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		s.discard(f)
		return nil, 0, err
	}
	return f, n, nil
}

func (s *Stages) discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// Finalize ends a job: its status from what was delivered (a recurring export's from its
// messages), its row count, the last event and, when the project asks, the notification.
func (s *Stages) Finalize(ctx context.Context, jobID int64) error {
	j, err := s.job(ctx, jobID)
	if err != nil || jobhistory.JobTerminal(j.Status) {
		return err
	}
	hist := s.hist(s.d.DB)
	files, err := hist.ExportFiles(ctx, j.ID, "")
	if err != nil {
		return err
	}
	var rows int64
	var data int
	for _, f := range files {
		if f.Kind == jobhistory.ExportData {
			rows += f.Rows
			data++
		}
	}
	p, perr := s.d.Projects(j.Project)
	msgs, err := hist.JobMessages(ctx, j.ID)
	if err != nil {
		return err
	}
	recurring := (perr == nil && p.Recurring()) || len(msgs) > 0
	status := jobhistory.JobSucceeded
	msg := fmt.Sprintf("%d rows in %d files", rows, data)
	if recurring {
		status, msg = RecurringOutcome(msgs, j.Error)
		msg = fmt.Sprintf("%s; %d rows in %d files", msg, rows, data)
	} else {
		ex, ok, err := hist.Execution(ctx, ExecutionID(j.Project, j.ID, j.ExecutionNonce))
		if err != nil {
			return err
		}
		if ok && ex.DMFStatus == string(dmf.StatusPartiallySucceeded) {
			status = jobhistory.JobPartiallySucceeded
			msg += "; F&O reported the export PartiallySucceeded"
		}
	}
	if j.Error != "" && !recurring {
		status = jobhistory.JobFailed
	}
	return pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		if err := hist.Finish(ctx, j.ID, status, jobhistory.JobCounts{Read: rows}, ""); err != nil {
			return err
		}
		level := map[string]string{jobhistory.JobFailed: "error", jobhistory.JobPartiallySucceeded: "warn"}[status]
		if level == "" {
			level = "info"
		}
		if err := hist.AddEvent(ctx, j.ID, "finalize", level, "export "+status+": "+msg,
			map[string]any{"status": status, "rows": rows, "files": data}); err != nil {
			return err
		}
		if perr != nil || p.Notify == nil || s.d.Notifier == nil || !notifyOn(p.Notify.On, status) {
			return nil
		}
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepNotify, Job: j})
	})
}

// RecurringOutcome is how a recurring export's job ends, from its messages and its error
// (jobErr, "" for none): failed when something failed the job and nothing was delivered,
// or every message failed; partially succeeded when some messages were delivered and
// others failed (they were not acknowledged: F&O hands them out again) or the job
// stopped early; succeeded otherwise (an empty queue too). msg summarises the messages.
func RecurringOutcome(msgs []jobhistory.RecurringMessage, jobErr string) (status, msg string) {
	count := map[string]int{}
	for _, m := range msgs {
		count[m.Status]++
	}
	good := count[jobhistory.MessageAcked] + count[jobhistory.MessageWritten] + count[jobhistory.MessageNoFile] + count[jobhistory.MessageSkipped]
	bad := count[jobhistory.MessageFailed] + count[jobhistory.MessageDequeued]
	msg = fmt.Sprintf("%d messages: %d acked, %d written and not acked, %d without a file, %d failed",
		len(msgs), count[jobhistory.MessageAcked], count[jobhistory.MessageWritten],
		count[jobhistory.MessageNoFile]+count[jobhistory.MessageSkipped], bad)
	switch {
	case jobErr == "" && bad == 0 && count[jobhistory.MessageWritten] == 0:
		return jobhistory.JobSucceeded, msg
	case good > 0:
		return jobhistory.JobPartiallySucceeded, msg
	}
	return jobhistory.JobFailed, msg
}
