package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Resume finds project's import jobs that have not ended (a foreground run that was
// interrupted, or a node that stopped) and makes their waiting River jobs runnable now,
// instead of after their retry backoff or snooze. It returns the ids of those jobs, for
// the caller to wait on. Jobs still running elsewhere are left alone.
//
// It then re-offers the step each open chunk waits for (its upload, or the poll of its
// execution) and the finalize of a job whose chunks have all ended. River inserts such a
// job only when the same one is not already waiting or running, so this only restarts
// a step whose River job is gone; every step is safe to run again (see doc.go).
func (w *Worker) Resume(ctx context.Context, project string) ([]int64, error) {
	ids, err := w.unfinishedJobs(ctx, project)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	_, err = w.pool.Exec(ctx, `
UPDATE river_job SET state = 'available', scheduled_at = now()
WHERE state IN ('retryable', 'scheduled') AND kind LIKE 'dmfpipe.%'
  AND ((args ? 'job_id' AND (args->>'job_id')::bigint = ANY($1))
       OR args->>'execution_id' IN (SELECT execution_id FROM dmf_executions WHERE job_id = ANY($1)))`, ids)
	if err != nil {
		return nil, fmt.Errorf("resuming the jobs of %s: %w", project, err)
	}
	for _, id := range ids {
		if err := w.reofferSteps(ctx, id, 0); err != nil {
			return nil, fmt.Errorf("resuming job %d: %w", id, err)
		}
	}
	return ids, nil
}

// unfinishedJobs lists the import jobs of project (all projects for "") that have not
// ended.
func (w *Worker) unfinishedJobs(ctx context.Context, project string) ([]int64, error) {
	rows, err := w.pool.Query(ctx, `SELECT id FROM jobs
		WHERE ($1 = '' OR project = $1) AND kind = 'import' AND status IN ('queued', 'running') ORDER BY id`, project)
	if err != nil {
		return nil, fmt.Errorf("finding unfinished jobs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("finding unfinished jobs: %w", err)
	}
	return ids, nil
}

// reofferSteps inserts the River job each open chunk of job waits for, and the job's
// finalize once every chunk has ended. A job not yet cut into chunks waits on its
// discover or ingest, which River keeps until they end. Chunks that changed within
// settled are left alone, so that a sweep does not race the stage that just moved them
// (the duplicate step would be harmless, the alarm on the timeline false).
func (w *Worker) reofferSteps(ctx context.Context, job int64, settled time.Duration) error {
	hist := history(w.pool)
	chunks, err := hist.Chunks(ctx, job)
	if err != nil || len(chunks) == 0 {
		return err
	}
	j, err := hist.Job(ctx, job)
	if err != nil {
		return err
	}
	open, recent := 0, false
	for _, c := range chunks {
		if w.now().Sub(c.UpdatedAt) < settled {
			recent = true
			continue
		}
		var args river.JobArgs
		switch c.Status {
		case jobhistory.ChunkPending, jobhistory.ChunkUploading:
			args = UploadArgs{JobID: job, ChunkNo: c.No}
		case jobhistory.ChunkImporting:
			args = PollArgs{ExecutionID: executionID(j.Project, job, c.No, c.Attempts)}
		default:
			continue
		}
		open++
		if err := w.reoffer(ctx, job, args, fmt.Sprintf("chunk %d (%s)", c.No, c.Status)); err != nil {
			return err
		}
	}
	if open > 0 || recent {
		return nil
	}
	return w.reoffer(ctx, job, FinalizeArgs{JobID: job}, "the finalize")
}

// reoffer inserts args, and records on the job's timeline when it was missing.
func (w *Worker) reoffer(ctx context.Context, job int64, args river.JobArgs, what string) error {
	res, err := w.client.Insert(ctx, args, nil)
	if err != nil {
		return fmt.Errorf("re-offering %s: %w", args.Kind(), err)
	}
	if res.UniqueSkippedAsDuplicate {
		return nil
	}
	msg := fmt.Sprintf("%s had no %s job waiting or running: offered again", what, args.Kind())
	w.log.Warn(msg, "job", job, "river_job", res.Job.ID)
	w.event(ctx, job, stageOfKind(args.Kind()), "warn", msg, map[string]any{"river_job": res.Job.ID})
	return nil
}
