package worker

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/imports"
)

// The River workers of the stages: each takes its job's arguments, makes one stage call
// and turns the outcome into River's: nil completes, a snooze waits without counting a
// failure, a permanent error cancels, any other error is retried after the stage's
// backoff (args.go).

// step is the River worker of one kind of job: the stage's settings and its one call.
type step[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	stage stage
	run   func(ctx context.Context, at imports.Attempt, args T) error
	// retrying, when set, is told of a failed attempt that will be retried in about in.
	retrying func(ctx context.Context, at imports.Attempt, args T, cause error, in time.Duration)
}

func (s *step[T]) Timeout(*river.Job[T]) time.Duration { return s.stage.timeout }

func (s *step[T]) NextRetry(job *river.Job[T]) time.Time { return s.stage.nextRetry(job.Attempt) }

func (s *step[T]) Work(ctx context.Context, job *river.Job[T]) error {
	at := imports.Attempt{N: job.Attempt, Max: job.MaxAttempts}
	err := s.run(ctx, at, job.Args)
	if s.retrying != nil && retried(err) && at.N < at.Max && ctx.Err() == nil {
		in := s.stage.retry
		in.Jitter = 0 // about: River spreads the wait it takes
		s.retrying(context.WithoutCancel(ctx), at, job.Args, err, in.Delay(at.N))
	}
	return verdict(err)
}

// retried reports whether a stage's outcome makes River try the job again after its
// backoff.
func retried(err error) bool {
	var (
		wait *imports.SnoozeError
		perm *imports.PermanentError
	)
	return err != nil && !errors.As(err, &wait) && !errors.As(err, &perm)
}

// verdict turns a stage's outcome into River's.
func verdict(err error) error {
	var (
		wait *imports.SnoozeError
		perm *imports.PermanentError
	)
	switch {
	case errors.As(err, &wait):
		return river.JobSnooze(wait.After)
	case errors.As(err, &perm):
		return river.JobCancel(perm.Err)
	}
	return err
}
