package imports

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// sweepSettled is how long a chunk must have stood still before a sweep looks at it, so
// that a sweep does not race the stage that just moved it (the duplicate step would be
// harmless, the alarm on the timeline false).
const sweepSettled = time.Minute

// Resume finds project's unfinished import jobs of the kind this node runs (for a
// foreground `run`, those of earlier runs that were interrupted) and makes their waiting steps runnable now, instead of after their
// retry backoff or snooze. It returns the ids of those jobs, for the caller to wait on.
// Steps still running elsewhere are left alone.
//
// It then re-offers the step each open chunk waits for (its upload, or the poll of its
// execution) and the finalize of a job whose chunks have all ended. A step is inserted
// only when the same one is not already waiting or running, so this only restarts a step
// whose runner job is gone; every step is safe to run again.
func (s *Stages) Resume(ctx context.Context, project string) ([]int64, error) {
	hist := s.hist(s.d.DB)
	ids, err := hist.UnfinishedJobs(ctx, "import", project, s.d.Foreground)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	var execs []string
	for _, id := range ids {
		e, err := hist.ExecutionIDs(ctx, id)
		if err != nil {
			return nil, err
		}
		execs = append(execs, e...)
	}
	if err := s.d.Steps.Hurry(ctx, ids, execs); err != nil {
		return nil, fmt.Errorf("resuming the jobs of %s: %w", project, err)
	}
	for _, id := range ids {
		if err := s.reoffer(ctx, id, 0); err != nil {
			return nil, fmt.Errorf("resuming job %d: %w", id, err)
		}
	}
	return ids, nil
}

// Sweep re-offers the steps of every unfinished import job whose runner job is gone (see
// Resume), so that a job whose step was lost, by a bug or by hand, ends instead of
// waiting forever.
func (s *Stages) Sweep(ctx context.Context) error {
	hist := s.hist(s.d.DB)
	var ids []int64
	for _, fg := range []bool{false, true} {
		some, err := hist.UnfinishedJobs(ctx, "import", "", fg)
		if err != nil {
			return err
		}
		ids = append(ids, some...)
	}
	for _, id := range ids {
		if err := s.reoffer(ctx, id, sweepSettled); err != nil {
			return fmt.Errorf("sweeping job %d: %w", id, err)
		}
	}
	return nil
}

// reoffer offers the step each open chunk of job waits for, and the job's finalize once
// every chunk has ended. A job not yet cut into chunks waits on its discover or ingest,
// which the runner keeps until they end. Chunks that changed within settled are left
// alone.
func (s *Stages) reoffer(ctx context.Context, id int64, settled time.Duration) error {
	hist := s.hist(s.d.DB)
	chunks, err := hist.Chunks(ctx, id)
	if err != nil || len(chunks) == 0 {
		return err
	}
	j, err := hist.Job(ctx, id)
	if err != nil {
		return err
	}
	open, recent := 0, false
	for _, c := range chunks {
		if s.d.Now().Sub(c.UpdatedAt) < settled {
			recent = true
			continue
		}
		var step Step
		switch c.Status {
		case jobhistory.ChunkPending, jobhistory.ChunkUploading:
			step = Step{Kind: StepUpload, Job: j, Chunk: c.No}
		case jobhistory.ChunkImporting:
			step = Step{Kind: StepPoll, Job: j, Execution: ExecutionID(j.Project, id, j.ExecutionNonce, c.No, c.Attempts)}
		default:
			continue
		}
		open++
		if err := s.offer(ctx, step, fmt.Sprintf("chunk %d (%s)", c.No, c.Status)); err != nil {
			return err
		}
	}
	if open > 0 || recent {
		return nil
	}
	return s.offer(ctx, Step{Kind: StepFinalize, Job: j}, "the finalize")
}

// offer offers a step, and records on the job's timeline when it was missing.
func (s *Stages) offer(ctx context.Context, step Step, what string) error {
	inserted, err := s.d.Steps.Offer(ctx, step)
	if err != nil {
		return fmt.Errorf("re-offering the %s step: %w", step.Kind, err)
	}
	if !inserted {
		return nil
	}
	msg := fmt.Sprintf("%s had no %s job waiting or running: offered again", what, s.d.Steps.Name(step.Kind))
	s.d.Log.Warn(msg, "job", step.Job.ID)
	s.event(ctx, step.Job.ID, step.Kind, "warn", msg, nil)
	return nil
}

// Discarded ends the part of an import job that a step the runner gave up on (its last
// attempt died with its node) leaves open, as the step itself does on its last attempt:
// the job fails after an ingest, the chunk after an upload or a poll. A finalize or
// notify discarded leaves nothing to do. args are the step's arguments as the runner
// stored them: job_id, chunk_no, execution_id.
func (s *Stages) Discarded(ctx context.Context, kind StepKind, args []byte, cause error) error {
	var a struct {
		JobID       int64  `json:"job_id"`
		ChunkNo     int    `json:"chunk_no"`
		ExecutionID string `json:"execution_id"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return err
	}
	hist := s.hist(s.d.DB)
	if a.ExecutionID != "" {
		ex, ok, err := hist.Execution(ctx, a.ExecutionID)
		if err != nil || !ok {
			return err
		}
		a.JobID, a.ChunkNo = ex.JobID, ex.ChunkNo
	}
	switch kind {
	case StepIngest:
		j, err := hist.Job(ctx, a.JobID)
		if err != nil {
			return err
		}
		return s.FailJob(ctx, j, StepIngest, cause)
	case StepUpload, StepPoll:
		c, err := hist.Chunk(ctx, a.JobID, a.ChunkNo)
		if err != nil {
			return err
		}
		return s.FailChunk(ctx, c, cause)
	}
	return nil
}
