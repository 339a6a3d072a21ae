package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Operators' work on River: a large action over a job's staged rows runs as a bulk job
// in the background (imports.Stages.Bulk), and cancelling a job cancels its River jobs.

// QueueBulk holds operators' bulk actions (BulkArgs), worked by serve nodes one at a
// time: each holds its rows a batch at a time, and two at once would only wait on each
// other's rows and the database's two cores.
const QueueBulk = "bulk"

// stageBulk runs an action of up to a million rows: minutes, at a few seconds per
// 100k rows; a retry goes on from the last batch it committed.
var stageBulk = stage{queue: QueueBulk, timeout: time.Hour, maxAttempts: 5, retry: retryAfter(10*time.Second, 5*time.Minute), unique: uniqueUnfinished}

// BulkArgs runs an operator's action over many staged rows: its audit entry says what.
type BulkArgs struct {
	EntryID int64 `json:"entry_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (BulkArgs) Kind() string { return "dmfpipe.bulk" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (BulkArgs) InsertOpts() river.InsertOpts { return stageBulk.opts() }

// stepKinds are the kinds of the import stages' River jobs, those of one import job.
var stepKinds = []string{IngestArgs{}.Kind(), UploadArgs{}.Kind(), PollArgs{}.Kind(), FinalizeArgs{}.Kind(), NotifyArgs{}.Kind()}

// Cancel cancels in tx every River job of an import job that has not finished: those
// whose arguments name the job or one of its executions.
func (r *riverSteps) Cancel(ctx context.Context, tx pgx.Tx, job int64, executions []string) (int, error) {
	params := river.NewJobListParams().
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled).
		Kinds(stepKinds...).
		First(hurryPage)
	n := 0
	for {
		res, err := r.w.client.JobListTx(ctx, tx, params)
		if err != nil {
			return n, fmt.Errorf("listing the steps of job %d: %w", job, err)
		}
		for _, rj := range res.Jobs {
			if !namesJob(rj.EncodedArgs, []int64{job}, executions) {
				continue
			}
			if _, err := r.w.client.JobCancelTx(ctx, tx, rj.ID); err != nil {
				return n, fmt.Errorf("canceling river job %d of job %d: %w", rj.ID, job, err)
			}
			n++
		}
		if len(res.Jobs) < hurryPage || res.LastCursor == nil {
			return n, nil
		}
		params = params.After(res.LastCursor)
	}
}

// namesJob reports whether a step's arguments name one of jobs or executions.
func namesJob(args []byte, jobs []int64, executions []string) bool {
	var a struct {
		JobID       int64  `json:"job_id"`
		ExecutionID string `json:"execution_id"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return false
	}
	for _, j := range jobs {
		if a.JobID == j && j != 0 {
			return true
		}
	}
	for _, e := range executions {
		if a.ExecutionID == e && e != "" {
			return true
		}
	}
	return false
}
