package jobstep

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
)

// FailJob records why a job failed and, in the same transaction, inserts its finalize
// (finalize inserts it); it returns the error that drops the failing step.
func (b *Base) FailJob(ctx context.Context, job int64, stage string, cause error, finalize func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, b.c.DB, func(tx pgx.Tx) error {
		hist := b.Hist(tx)
		if err := hist.SetError(ctx, job, cause.Error()); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, job, stage, "error", cause.Error(), nil); err != nil {
			return err
		}
		return finalize(tx)
	})
	if err != nil {
		return fmt.Errorf("failing job %d (%w): %w", job, cause, err)
	}
	return Permanent(cause)
}

// NotificationSent is the event of a sent notification.
const NotificationSent = "notification sent"

// Notify sends with n a finished job's notification, which message returns: a job no
// longer there, no notifier, or a refusal that retrying cannot cure drops the step;
// others are returned for the runner to retry, each recorded on the job's timeline
// under stage, as is the notification sent.
func (b *Base) Notify(ctx context.Context, n notify.Sender, at Attempt, stage string, message func() (notify.Job, error)) error {
	if n == nil {
		return Permanent(errors.New("no notifier configured"))
	}
	msg, err := message()
	if errors.Is(err, jobhistory.ErrJobNotFound) {
		return Permanent(err)
	}
	if err != nil {
		return err
	}
	if err := n.Send(ctx, msg); err != nil {
		b.Event(ctx, msg.ID, stage, "warn", "notification not sent: "+err.Error(), map[string]any{"attempt": at.N})
		if notify.IsPermanent(err) {
			return Permanent(err)
		}
		return err
	}
	b.Event(ctx, msg.ID, stage, "info", NotificationSent, nil)
	return nil
}
