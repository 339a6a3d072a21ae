package worker

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// The cluster's housekeeping, fired by the leader of the serve nodes (Deps.Periodic) on
// the maintenance queue: purging expired staging, and sweeping for lost steps.

// purgeEvery is how often a cluster drops the staging areas whose retention has ended;
// sweepEvery how often it looks for the steps of unfinished jobs whose River job is gone.
const (
	purgeEvery = time.Hour
	sweepEvery = 5 * time.Minute
)

var stageMaintenance = stage{timeout: 30 * time.Minute, maxAttempts: 3, retry: retryAfter(time.Minute, 10*time.Minute)}

// maintenanceJobs are the periodic housekeeping jobs.
func maintenanceJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(purgeEvery), func() (river.JobArgs, *river.InsertOpts) {
			return PurgeArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "purge", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(sweepEvery), func() (river.JobArgs, *river.InsertOpts) {
			return SweepArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "sweep", RunOnStart: true}),
	}
}

// maintenanceOpts are the insert options of a housekeeping job: one waits or runs at a
// time.
var maintenanceOpts = river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: stageMaintenance.maxAttempts,
	UniqueOpts: uniqueUnfinished}

// housekeeping is the worker of a housekeeping job kind.
type housekeeping[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	work func(context.Context) error
}

func (h *housekeeping[T]) Timeout(*river.Job[T]) time.Duration { return stageMaintenance.timeout }

func (h *housekeeping[T]) NextRetry(job *river.Job[T]) time.Time {
	return stageMaintenance.nextRetry(job.Attempt)
}

func (h *housekeeping[T]) Work(ctx context.Context, _ *river.Job[T]) error { return h.work(ctx) }

// PurgeArgs drops the staging areas of the jobs that finished longer ago than
// database.staging_retention. `serve` fires it hourly (and at start) on the leader.
type PurgeArgs struct{}

// Kind implements river.JobArgs.
func (PurgeArgs) Kind() string { return "dmfpipe.purge" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (PurgeArgs) InsertOpts() river.InsertOpts { return maintenanceOpts }

// SweepArgs re-offers the steps of unfinished import jobs whose River job is gone (see
// Worker.Resume): a job whose step was lost, by a bug or by hand, ends instead of
// waiting forever. `serve` fires it every 5 minutes (and at start) on the leader.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "dmfpipe.sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SweepArgs) InsertOpts() river.InsertOpts { return maintenanceOpts }
