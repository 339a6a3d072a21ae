package worker

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// The River workers of the stages: each takes its job's arguments, makes one stage call
// and turns the outcome into River's: nil completes, a snooze waits without counting a
// failure, a permanent error cancels, any other error is retried after the stage's
// backoff (args.go).

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

// attempt is which run of a River job this is, for the stage.
func attempt[T river.JobArgs](job *river.Job[T]) imports.Attempt {
	return imports.Attempt{N: job.Attempt, Max: job.MaxAttempts}
}

type discoverWorker struct {
	river.WorkerDefaults[scheduler.DiscoverArgs]
	w *Worker
}

func (d *discoverWorker) Timeout(*river.Job[scheduler.DiscoverArgs]) time.Duration {
	return stageDiscover.timeout
}

func (d *discoverWorker) NextRetry(job *river.Job[scheduler.DiscoverArgs]) time.Time {
	return stageDiscover.nextRetry(job.Attempt)
}

func (d *discoverWorker) Work(ctx context.Context, job *river.Job[scheduler.DiscoverArgs]) error {
	return verdict(d.w.stages.Discover(ctx, job.Args, d.w.sched))
}

type ingestWorker struct {
	river.WorkerDefaults[IngestArgs]
	w *Worker
}

func (i *ingestWorker) Timeout(*river.Job[IngestArgs]) time.Duration { return stageIngest.timeout }

func (i *ingestWorker) NextRetry(job *river.Job[IngestArgs]) time.Time {
	return stageIngest.nextRetry(job.Attempt)
}

func (i *ingestWorker) Work(ctx context.Context, job *river.Job[IngestArgs]) error {
	return verdict(i.w.stages.Ingest(ctx, attempt(job), job.Args.JobID))
}

type uploadWorker struct {
	river.WorkerDefaults[UploadArgs]
	w *Worker
}

func (u *uploadWorker) Timeout(*river.Job[UploadArgs]) time.Duration { return stageUpload.timeout }

func (u *uploadWorker) NextRetry(job *river.Job[UploadArgs]) time.Time {
	return stageUpload.nextRetry(job.Attempt)
}

func (u *uploadWorker) Work(ctx context.Context, job *river.Job[UploadArgs]) error {
	return verdict(u.w.stages.Upload(ctx, attempt(job), job.Args.JobID, job.Args.ChunkNo))
}

type pollWorker struct {
	river.WorkerDefaults[PollArgs]
	w *Worker
}

func (p *pollWorker) Timeout(*river.Job[PollArgs]) time.Duration { return stagePoll.timeout }

func (p *pollWorker) NextRetry(job *river.Job[PollArgs]) time.Time {
	return stagePoll.nextRetry(job.Attempt)
}

func (p *pollWorker) Work(ctx context.Context, job *river.Job[PollArgs]) error {
	return verdict(p.w.stages.Poll(ctx, attempt(job), job.Args.ExecutionID))
}

type finalizeWorker struct {
	river.WorkerDefaults[FinalizeArgs]
	w *Worker
}

func (f *finalizeWorker) Timeout(*river.Job[FinalizeArgs]) time.Duration {
	return stageFinalize.timeout
}

func (f *finalizeWorker) NextRetry(job *river.Job[FinalizeArgs]) time.Time {
	return stageFinalize.nextRetry(job.Attempt)
}

func (f *finalizeWorker) Work(ctx context.Context, job *river.Job[FinalizeArgs]) error {
	return verdict(f.w.stages.Finalize(ctx, job.Args.JobID))
}

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	w *Worker
}

func (n *notifyWorker) Timeout(*river.Job[NotifyArgs]) time.Duration { return stageNotify.timeout }

func (n *notifyWorker) NextRetry(job *river.Job[NotifyArgs]) time.Time {
	return stageNotify.nextRetry(job.Attempt)
}

func (n *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	return verdict(n.w.stages.Notify(ctx, attempt(job), job.Args.JobID))
}
