package ingestjob

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// DryRun records a job for project in the job history (trigger "run", marked as a dry
// run), stages file's records read from the reader open returns, runs the set rules,
// decides on the error rate and finishes the job without uploading anything. The staged
// rows stay for the console until the retention purges them.
//
// The job fails when the file cannot be read or does not fit the mapping (the errors name
// the file), when staging fails, or when the error rate is exceeded; the error is
// returned, an *staging.ErrorRateExceededError for the latter. Invalid rows below the
// threshold leave it partially succeeded, as the import would be.
func DryRun(ctx context.Context, pool *pgxpool.Pool, project, version, file string, open func() (reader.Reader, error), bind BindFunc, rules RowChecker, sets SetRules, opts Options) (int64, Result, error) {
	hist := jobhistory.NewStore(pool)
	job, err := hist.CreateJob(ctx, jobhistory.NewJob{Project: project, Kind: "import", Trigger: "run",
		ProjectVersion: version, DryRun: true})
	if err != nil {
		return 0, Result{}, err
	}
	if err := hist.SetStage(ctx, job, "ingest"); err != nil {
		return job, Result{}, err
	}
	if err := hist.AddEvent(ctx, job, "ingest", "info", "dry run: staging "+file+"; nothing will be uploaded",
		map[string]any{"dry_run": true, "file": file}); err != nil {
		return job, Result{}, err
	}
	var res Result
	rd, stageErr := open()
	if stageErr == nil {
		opts.File = file
		res, stageErr = Stage(ctx, staging.NewStore(pool), job, rd, bind, rules, sets, opts)
		rd.Close()
	}

	status, stage, level := jobhistory.JobSucceeded, "decide", "info"
	if res.Counts.Invalid > 0 {
		status = jobhistory.JobPartiallySucceeded
	}
	msg := fmt.Sprintf("dry run done: %d read, %d valid, %d invalid", res.Read, res.Counts.Valid, res.Counts.Invalid)
	jobErr := ""
	if stageErr != nil {
		status, level, msg, jobErr = jobhistory.JobFailed, "error", stageErr.Error(), stageErr.Error()
		var exceeded *staging.ErrorRateExceededError
		if !errors.As(stageErr, &exceeded) {
			stage = "ingest"
		}
	}
	// The job is finished even when ctx was canceled: it must not stay running.
	fctx := context.WithoutCancel(ctx)
	counts := jobhistory.JobCounts{Read: res.Read, Staged: res.Counts.Total, Invalid: res.Counts.Invalid}
	if err := hist.FinishIn(fctx, job, stage, status, counts, jobErr); err != nil {
		return job, res, errors.Join(stageErr, err)
	}
	if err := hist.AddEvent(fctx, job, stage, level, msg, map[string]any{"dry_run": true, "valid": res.Counts.Valid,
		"invalid": res.Counts.Invalid}); err != nil {
		return job, res, errors.Join(stageErr, err)
	}
	return job, res, stageErr
}
