package imports

import (
	"context"
	"errors"
	"strings"

	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/staging"
)

// notificationSent is the event of a sent notification.
const notificationSent = jobstep.NotificationSent

// NotifyErrors is how many row errors a notification lists.
const NotifyErrors = 10

// Notify sends a finished job's notification; a refusal that retrying cannot cure drops
// the step, others are retried by the runner, each recorded on the job's timeline.
func (s *Stages) Notify(ctx context.Context, at Attempt, id int64) error {
	return s.base.Notify(ctx, s.d.Notifier, at, string(StepNotify), func() (notify.Job, error) {
		j, err := s.job(ctx, id)
		if err != nil {
			return notify.Job{}, err
		}
		// A node that does not know the project has no notifier for it: leave the step
		// to one that does (a later `run` of the project, or serve).
		if _, err := s.admit(ctx, j, StepNotify); err != nil {
			return notify.Job{}, err
		}
		return s.Notification(ctx, id)
	})
}

// Notification is the summary a finished job's notification carries.
func (s *Stages) Notification(ctx context.Context, id int64) (notify.Job, error) {
	j, err := s.hist(s.d.DB).Job(ctx, id)
	if err != nil {
		return notify.Job{}, err
	}
	msg := notify.Job{
		Project: j.Project, ID: j.ID, Trigger: j.Trigger, Status: notify.Status(j.Status),
		Counts: notify.Counts{Read: j.Counts.Read, Staged: j.Counts.Staged, Invalid: j.Counts.Invalid,
			Uploaded: j.Counts.Uploaded, Imported: j.Counts.Imported, Rejected: j.Counts.Rejected},
		Chunks: j.ChunksTotal, Started: j.StartedAt, Error: j.Error, ConsoleURL: s.d.ConsoleURL,
	}
	if !j.FinishedAt.IsZero() && !j.StartedAt.IsZero() {
		msg.Duration = j.FinishedAt.Sub(j.StartedAt)
	}
	if j.SourceFileID != 0 {
		entry, err := jobhistory.NewLedger(s.d.DB).Get(ctx, j.SourceFileID)
		if err != nil {
			return msg, err
		}
		msg.File = entry.File.Name
	}
	errs, err := s.staging(s.d.DB).FirstErrors(ctx, id, NotifyErrors)
	if err != nil && !errors.Is(err, staging.ErrNoJob) {
		return msg, err
	}
	for _, e := range errs {
		msg.Errors = append(msg.Errors, notify.RowError{Line: e.Line, Sheet: e.Sheet, Column: e.Column, Field: e.Field,
			Rule: string(e.Rule), Message: e.Msg})
	}
	return msg, nil
}

// NotificationSent reports whether a job's notification was sent; when not (yet), why is
// the last reason recorded for a failed attempt ("" when none failed).
func (s *Stages) NotificationSent(ctx context.Context, job int64) (sent bool, why string, err error) {
	events, err := s.hist(s.d.DB).Events(ctx, job)
	if err != nil {
		return false, "", err
	}
	for _, e := range events {
		if e.Stage != string(StepNotify) {
			continue
		}
		if e.Level == "info" && e.Message == notificationSent {
			return true, "", nil
		}
		why = strings.TrimPrefix(e.Message, "notification not sent: ")
	}
	return false, why, nil
}
