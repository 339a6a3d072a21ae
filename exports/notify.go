package exports

import (
	"context"
	"path"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/notify"
)

func notifyOn(on []string, status string) bool { return notify.ShouldNotify(on, notify.Status(status)) }

// Notify sends a finished export job's notification; a refusal that retrying cannot cure
// drops the step, others are retried by the runner, each recorded on the job's timeline.
func (s *Stages) Notify(ctx context.Context, at imports.Attempt, id int64) error {
	return s.base.Notify(ctx, s.d.Notifier, at, string(StepNotify), func() (notify.Job, error) { return s.Notification(ctx, id) })
}

// Notification is the summary a finished export job's notification carries.
func (s *Stages) Notification(ctx context.Context, id int64) (notify.Job, error) {
	sum, err := s.Summary(ctx, id)
	if err != nil {
		return notify.Job{}, err
	}
	j, err := s.hist(s.d.DB).Job(ctx, id)
	if err != nil {
		return notify.Job{}, err
	}
	msg := notify.Job{Project: j.Project, ID: j.ID, Trigger: j.Trigger, Status: notify.Status(j.Status), Started: j.StartedAt,
		Error: j.Error, ConsoleURL: s.d.ConsoleURL, Duration: sum.Duration,
		Export: &notify.Export{Rows: sum.Rows, Files: sum.DataFiles(), Messages: len(sum.Messages)}}
	if p, err := s.d.Projects(j.Project); err == nil {
		msg.Export.Destination = p.Destination.Connection + ":" + path.Dir(p.Destination.Path)
	}
	return msg, nil
}
