package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// Queues. A serve node works the cluster's queues: discover, the stages' and the
// maintenance queue. A foreground `pipeline run` of project P works only P's foreground
// queues, "run-<hash of P>-<stage>", where the steps of the jobs it starts go: serve nodes
// never take them (they may not know P, or reach the run's local files), and a later run
// of P resumes them. Each stage has a queue of its own, so that its concurrency is its
// own: ingest is CPU-bound, polls wait.

// stageWorkers is how many jobs of each stage a node runs at once.
var stageWorkers = map[imports.StepKind]int{
	// Ingest is CPU-bound (read, map, validate) and runs its own goroutines.
	imports.StepIngest: 1,
	// Uploads build and send packages; ImportFromPackage itself is serialised per
	// definition group (lane) by an advisory lock.
	imports.StepUpload:   4,
	imports.StepPoll:     10,
	imports.StepFinalize: 2,
	imports.StepNotify:   2,
}

// queues are the River queues a node works: a foreground run's for project foreground,
// else the cluster's.
func queues(foreground string) map[string]river.QueueConfig {
	qs := map[string]river.QueueConfig{}
	for kind, n := range stageWorkers {
		qs[queueOf(kind, foreground)] = river.QueueConfig{MaxWorkers: n}
	}
	if foreground == "" {
		qs[scheduler.Queue] = river.QueueConfig{MaxWorkers: 2}
		qs[QueueMaintenance] = river.QueueConfig{MaxWorkers: 1}
		qs[QueueBulk] = river.QueueConfig{MaxWorkers: 1}
	}
	maps.Copy(qs, exportQueues(foreground))
	return qs
}

// queueOf is the queue of a stage's steps: the cluster's, or project foreground's. A
// notification goes to the cluster's queue whoever ran the job, imports and exports
// alike: a foreground command works that queue too (for the projects it knows), so that
// a notification it could not send before it exited is sent by the next run or by serve.
func queueOf(kind imports.StepKind, foreground string) string {
	if foreground == "" || kind == imports.StepNotify {
		return string(kind)
	}
	// River queue names are lower-case letters, digits, '-' and '_', at most 64: a
	// project's name may not be, its hash always is.
	sum := sha256.Sum256([]byte(foreground))
	return "run-" + hex.EncodeToString(sum[:6]) + "-" + string(kind)
}

// riverSteps runs the stages' steps as River jobs (imports.Steps).
type riverSteps struct{ w *Worker }

// args are a step's River job arguments and insert options: routed to the queue of the
// step's job (a foreground run's job to that run's queues).
func (r *riverSteps) args(s imports.Step) (river.JobArgs, *river.InsertOpts, error) {
	var args river.JobArgs
	switch s.Kind {
	case imports.StepIngest:
		args = IngestArgs{JobID: s.Job.ID}
	case imports.StepUpload:
		args = UploadArgs{JobID: s.Job.ID, ChunkNo: s.Chunk}
	case imports.StepPoll:
		args = PollArgs{ExecutionID: s.Execution}
	case imports.StepFinalize:
		args = FinalizeArgs{JobID: s.Job.ID, Attempt: laterAttempt(s.Job.Attempt)}
	case imports.StepNotify:
		args = NotifyArgs{JobID: s.Job.ID, Attempt: laterAttempt(s.Job.Attempt)}
	case imports.StepBulk:
		// An operator's action, on the cluster's queue whoever runs the job.
		args := BulkArgs{EntryID: s.Action}
		opts := args.InsertOpts()
		return args, &opts, nil
	default:
		return nil, nil, fmt.Errorf("no runner for a %q step", s.Kind)
	}
	opts := args.(river.JobArgsWithInsertOpts).InsertOpts()
	if s.Job.Foreground {
		opts.Queue = queueOf(s.Kind, s.Job.Project)
	}
	return args, &opts, nil
}

func (r *riverSteps) Insert(ctx context.Context, tx pgx.Tx, steps ...imports.Step) error {
	return insertSteps(ctx, r.w.client, tx, steps, r.args, func(s imports.Step) (string, int64) { return string(s.Kind), s.Job.ID })
}

func (r *riverSteps) Offer(ctx context.Context, s imports.Step) (bool, error) {
	return offerStep(ctx, r.w.client, s, r.args)
}

// insertSteps inserts steps (of one job) in tx, each made a River job by args.
func insertSteps[S any](ctx context.Context, c *river.Client[pgx.Tx], tx pgx.Tx, steps []S,
	args func(S) (river.JobArgs, *river.InsertOpts, error), name func(S) (kind string, job int64)) error {
	params := make([]river.InsertManyParams, len(steps))
	for i, s := range steps {
		a, opts, err := args(s)
		if err != nil {
			return err
		}
		params[i] = river.InsertManyParams{Args: a, InsertOpts: opts}
	}
	if len(params) == 1 {
		if _, err := c.InsertTx(ctx, tx, params[0].Args, params[0].InsertOpts); err != nil {
			kind, job := name(steps[0])
			return fmt.Errorf("inserting the %s step of job %d: %w", kind, job, err)
		}
		return nil
	}
	if len(params) > 1 {
		if _, err := c.InsertManyTx(ctx, tx, params); err != nil {
			_, job := name(steps[0])
			return fmt.Errorf("inserting %d steps of job %d: %w", len(steps), job, err)
		}
	}
	return nil
}

// offerStep inserts a step on its own and reports whether it was missing.
func offerStep[S any](ctx context.Context, c *river.Client[pgx.Tx], s S, args func(S) (river.JobArgs, *river.InsertOpts, error)) (bool, error) {
	a, opts, err := args(s)
	if err != nil {
		return false, err
	}
	res, err := c.Insert(ctx, a, opts)
	if err != nil {
		return false, err
	}
	return !res.UniqueSkippedAsDuplicate, nil
}

func (r *riverSteps) Name(kind imports.StepKind) string {
	switch kind {
	case imports.StepIngest:
		return IngestArgs{}.Kind()
	case imports.StepUpload:
		return UploadArgs{}.Kind()
	case imports.StepPoll:
		return PollArgs{}.Kind()
	case imports.StepFinalize:
		return FinalizeArgs{}.Kind()
	case imports.StepBulk:
		return BulkArgs{}.Kind()
	}
	return NotifyArgs{}.Kind()
}

// hurryPage bounds the River jobs Hurry reads at a time.
const hurryPage = 1000

// Hurry makes the waiting River jobs of jobs (retries after a failure, snoozed polls)
// available now, through River's JobRetry. Only retryable and scheduled jobs of the
// stages' kinds are looked at, and only those whose arguments name one of jobs or
// executions are retried.
func (r *riverSteps) Hurry(ctx context.Context, jobs []int64, executions []string) error {
	return r.w.hurry(ctx, stepKinds, jobs, executions)
}

// hurry retries (through River's JobRetry) the retryable and scheduled River jobs of
// kinds whose arguments name one of jobs or executions.
func (w *Worker) hurry(ctx context.Context, kinds []string, jobs []int64, executions []string) error {
	params := river.NewJobListParams().
		States(rivertype.JobStateRetryable, rivertype.JobStateScheduled).Kinds(kinds...).First(hurryPage)
	for {
		res, err := w.client.JobList(ctx, params)
		if err != nil {
			return fmt.Errorf("listing waiting steps: %w", err)
		}
		for _, j := range res.Jobs {
			if !namesJob(j.EncodedArgs, jobs, executions) {
				continue
			}
			if _, err := w.client.JobRetry(ctx, j.ID); err != nil {
				return fmt.Errorf("resuming river job %d: %w", j.ID, err)
			}
		}
		if len(res.Jobs) < hurryPage || res.LastCursor == nil {
			return nil
		}
		params = params.After(res.LastCursor)
	}
}

var _ imports.Steps = (*riverSteps)(nil)

// FlushNotifications makes the notifications of project's jobs that wait (a retry after
// a refusal, or left by a run that exited) runnable now, and returns their jobs: a
// foreground run sends those it can before it exits.
func (w *Worker) FlushNotifications(ctx context.Context, project string) ([]int64, error) {
	res, err := w.client.JobList(ctx, river.NewJobListParams().Kinds(NotifyArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStateRetryable, rivertype.JobStateScheduled).First(hurryPage))
	if err != nil {
		return nil, fmt.Errorf("listing waiting notifications: %w", err)
	}
	var jobs []int64
	for _, j := range res.Jobs {
		var a NotifyArgs
		if json.Unmarshal(j.EncodedArgs, &a) != nil {
			continue
		}
		s, err := w.stages.Summary(ctx, a.JobID)
		if err != nil || s.Project != project {
			continue
		}
		if _, err := w.client.JobRetry(ctx, j.ID); err != nil {
			return jobs, fmt.Errorf("sending the notification of job %d: %w", a.JobID, err)
		}
		jobs = append(jobs, a.JobID)
	}
	return jobs, nil
}

// NotificationRetry says when the notification of job is tried again: pending is false
// when no attempt waits (it was sent, it was given up, or it was never asked for).
func (w *Worker) NotificationRetry(ctx context.Context, job int64) (at time.Time, pending bool, err error) {
	res, err := w.client.JobList(ctx, river.NewJobListParams().Kinds(NotifyArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStateRunning).
		First(hurryPage))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("looking up the notification of job %d: %w", job, err)
	}
	for _, j := range res.Jobs {
		var a NotifyArgs
		if json.Unmarshal(j.EncodedArgs, &a) == nil && a.JobID == job {
			return j.ScheduledAt, true, nil
		}
	}
	return time.Time{}, false, nil
}
