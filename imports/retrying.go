package imports

import (
	"context"
	"fmt"
	"time"

	"github.com/dmfpipe/dmfpipe/internal/excerpt"
)

// Retrying records on a job's timeline that an attempt of one of its steps failed and
// that the step runs again in about in: the cause of a retry (a dropped SFTP connection,
// a full temp folder, a refused connection) is seen where people look, `jobs show` and
// `run`, not only in the runner's job row. serve logs it too (a foreground run shows
// the timeline's warnings itself).
func (s *Stages) Retrying(ctx context.Context, job int64, kind StepKind, at Attempt, cause error, in time.Duration) {
	cause, in = excerpt.Error(cause), in.Round(time.Second)
	s.event(ctx, job, kind, "warn", fmt.Sprintf("%s attempt %d of %d failed: %v; retrying in %s", kind, at.N, at.Max, cause, in),
		map[string]any{"attempt": at.N, "max_attempts": at.Max})
	if !s.d.Foreground {
		s.d.Log.Warn("step failed; retrying", "job", job, "step", string(kind), "attempt", at.N, "max_attempts", at.Max,
			"retry_in", in, "err", cause.Error())
	}
}

// RetryingPoll is Retrying for the poll of a DMF execution.
func (s *Stages) RetryingPoll(ctx context.Context, execID string, at Attempt, cause error, in time.Duration) {
	ex, ok, err := s.hist(s.d.DB).Execution(ctx, execID)
	if err != nil || !ok {
		return // the database is what failed, or the execution was never recorded
	}
	s.Retrying(ctx, ex.JobID, StepPoll, at, cause, in)
}
