package ingestjob

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/staging"
)

// Job statuses DryRun leaves behind.
const (
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// DryRun records a job for project (trigger "run", marked as a dry run in its events),
// stages file's records read from rd, runs the set rules, decides on the error rate and
// finishes the job without uploading anything. The staged rows stay for the console
// until the retention purges them.
//
// The job fails when staging fails or the error rate is exceeded (the error is then
// returned, an *staging.ErrorRateExceededError for the latter); invalid rows below the
// threshold leave it succeeded: nothing was to be uploaded. (The jobs and job_events rows
// are written here until jobhistory grows an API for them.)
func DryRun(ctx context.Context, pool *pgxpool.Pool, project, file string, rd reader.Reader, bind BindFunc, rules RowChecker, sets SetRules, opts Options) (int64, Result, error) {
	var job int64
	err := pool.QueryRow(ctx, `INSERT INTO jobs (project, kind, trigger, status, stage, started_at)
		VALUES ($1, 'import', 'run', 'running', 'ingest', now()) RETURNING id`, project).Scan(&job)
	if err != nil {
		return 0, Result{}, fmt.Errorf("recording the job: %w", err)
	}
	if err := event(ctx, pool, job, "ingest", "info", "dry run: staging "+file+"; nothing will be uploaded",
		map[string]any{"dry_run": true, "file": file}); err != nil {
		return job, Result{}, err
	}
	res, stageErr := Stage(ctx, staging.NewStore(pool), job, rd, bind, rules, sets, opts)

	status, stage, msg, level := JobSucceeded, "decide", fmt.Sprintf("dry run done: %d read, %d valid, %d invalid",
		res.Read, res.Counts.Valid, res.Counts.Invalid), "info"
	var jobErr *string
	if stageErr != nil {
		status, level, msg = JobFailed, "error", stageErr.Error()
		jobErr = &msg
		var exceeded *staging.ErrorRateExceededError
		if !errors.As(stageErr, &exceeded) {
			stage = "ingest"
		}
	}
	// The job is finished even when ctx was canceled: it must not stay running.
	fctx := context.WithoutCancel(ctx)
	_, err = pool.Exec(fctx, `UPDATE jobs SET status = $2, stage = $3, rows_read = $4, rows_staged = $5,
		rows_invalid = $6, error = $7, finished_at = now(), updated_at = now() WHERE id = $1`,
		job, status, stage, res.Read, res.Counts.Total, res.Counts.Invalid, jobErr)
	if err != nil {
		return job, res, errors.Join(stageErr, fmt.Errorf("finishing job %d: %w", job, err))
	}
	if err := event(fctx, pool, job, stage, level, msg, map[string]any{"dry_run": true, "counts": res.Counts}); err != nil {
		return job, res, errors.Join(stageErr, err)
	}
	return job, res, stageErr
}

func event(ctx context.Context, pool *pgxpool.Pool, job int64, stage, level, msg string, attrs map[string]any) error {
	if _, err := pool.Exec(ctx, `INSERT INTO job_events (job_id, stage, level, message, attrs) VALUES ($1, $2, $3, $4, $5)`,
		job, stage, level, msg, attrs); err != nil {
		return fmt.Errorf("recording an event of job %d: %w", job, err)
	}
	return nil
}
