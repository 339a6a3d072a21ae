package exports

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Resume finds project's unfinished export jobs of the kind this node runs (for a
// foreground `pipeline export`, those of earlier ones that were interrupted), makes their
// waiting steps runnable now and re-offers the step each waits for (inserted only when
// it is not already waiting or running). It returns the jobs' ids, for the caller to wait
// on.
func (s *Stages) Resume(ctx context.Context, project string) ([]int64, error) {
	ids, err := s.hist(s.d.DB).UnfinishedJobs(ctx, "export", project, s.d.Foreground)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	if err := s.d.Steps.Hurry(ctx, ids); err != nil {
		return nil, fmt.Errorf("resuming the export jobs of %s: %w", project, err)
	}
	for _, id := range ids {
		if err := s.reoffer(ctx, id); err != nil {
			return nil, fmt.Errorf("resuming export job %d: %w", id, err)
		}
	}
	return ids, nil
}

// Sweep re-offers the step of every unfinished export job whose runner job is gone (see
// Resume), so that a job whose step was lost ends instead of waiting forever.
func (s *Stages) Sweep(ctx context.Context) error {
	hist := s.hist(s.d.DB)
	for _, fg := range []bool{false, true} {
		ids, err := hist.UnfinishedJobs(ctx, "export", "", fg)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.reoffer(ctx, id); err != nil {
				return fmt.Errorf("sweeping export job %d: %w", id, err)
			}
		}
	}
	return nil
}

// reoffer offers the step a job waits for, from the stage it recorded. Each stage records
// its next stage together with inserting the next step, so the two agree.
func (s *Stages) reoffer(ctx context.Context, id int64) error {
	hist := s.hist(s.d.DB)
	j, err := hist.Job(ctx, id)
	if err != nil {
		return err
	}
	step, err := s.waitingStep(ctx, j)
	if err != nil {
		return err
	}
	inserted, err := s.d.Steps.Offer(ctx, step)
	if err != nil || !inserted {
		return err
	}
	msg := fmt.Sprintf("export job %d had no %s job waiting or running: offered again", j.ID, s.d.Steps.Name(step.Kind))
	s.d.Log.Warn(msg, "job", j.ID)
	s.event(ctx, j.ID, step.Kind, "warn", msg, nil)
	return nil
}

// waitingStep is the step a job waits for at its stage.
func (s *Stages) waitingStep(ctx context.Context, j *jobhistory.Job) (Step, error) {
	last, dequeued, err := s.hist(s.d.DB).LastJobMessage(ctx, j.ID)
	if err != nil {
		return Step{}, err
	}
	recurring := dequeued
	if p, err := s.d.Projects(j.Project); err == nil {
		recurring = p.Recurring()
	}
	switch j.Stage {
	case "poll":
		return Step{Kind: StepPoll, Job: j}, nil
	case "finalize":
		return Step{Kind: StepFinalize, Job: j}, nil
	}
	if !recurring {
		if j.Stage == "deliver" {
			return Step{Kind: StepDeliver, Job: j, Unit: ExecutionID(j.Project, j.ID, j.ExecutionNonce)}, nil
		}
		return Step{Kind: StepRequest, Job: j}, nil
	}
	if !dequeued {
		return Step{Kind: StepDequeue, Job: j, Seq: 1}, nil
	}
	// A deliver records the stage dequeue when it goes on to the next message (acked,
	// failed, or its ack given up); until then its message's delivery or ack is due.
	if j.Stage == "deliver" {
		return Step{Kind: StepDeliver, Job: j, Unit: last.CorrelationID}, nil
	}
	return Step{Kind: StepDequeue, Job: j, Seq: last.Seq + 1}, nil
}

// Discarded ends the job of a step the runner gave up on (its last attempt died with its
// node), as the step itself does on its last attempt. args are the step's arguments as
// the runner stored them (job_id).
func (s *Stages) Discarded(ctx context.Context, kind StepKind, args []byte, cause error) error {
	var a struct {
		JobID int64 `json:"job_id"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return err
	}
	if kind == StepFinalize || kind == StepNotify {
		return nil
	}
	j, err := s.hist(s.d.DB).Job(ctx, a.JobID)
	if err != nil {
		return err
	}
	return s.FailJob(ctx, j, kind, cause)
}
