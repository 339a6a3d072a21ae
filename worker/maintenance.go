package worker

import (
	"context"
	"fmt"
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
	// sweepSettled is how long a chunk must have stood still before a sweep looks at it.
	sweepSettled = time.Minute
)

var stageMaintenance = stage{timeout: 30 * time.Minute, maxAttempts: 3, backoff: time.Minute, maxBackoff: 10 * time.Minute}

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

// PurgeArgs drops the staging areas of the jobs that finished longer ago than
// database.staging_retention. `serve` fires it hourly (and at start) on the leader.
type PurgeArgs struct{}

// Kind implements river.JobArgs.
func (PurgeArgs) Kind() string { return "dmfpipe.purge" }

// InsertOpts implements river.JobArgsWithInsertOpts: one purge waits or runs at a time.
func (PurgeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: stageMaintenance.maxAttempts, UniqueOpts: uniqueUnfinished}
}

type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	w *Worker
}

func (p *purgeWorker) Timeout(*river.Job[PurgeArgs]) time.Duration { return stageMaintenance.timeout }

func (p *purgeWorker) NextRetry(job *river.Job[PurgeArgs]) time.Time {
	return stageMaintenance.nextRetry(job.Attempt)
}

func (p *purgeWorker) Work(ctx context.Context, _ *river.Job[PurgeArgs]) error {
	w := p.w
	retention := w.cfg.Database.StagingRetention.D()
	purged, err := w.staging.Purge(ctx, w.now().Add(-retention))
	if len(purged) > 0 {
		w.log.Info("purged the staged rows of finished jobs", "jobs", len(purged), "first", purged[0],
			"last", purged[len(purged)-1], "retention", retention)
	}
	return err
}

// SweepArgs re-offers the steps of unfinished import jobs whose River job is gone (see
// Worker.Resume): a job whose step was lost, by a bug or by hand, ends instead of
// waiting forever. `serve` fires it every 5 minutes (and at start) on the leader.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "dmfpipe.sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts: one sweep waits or runs at a time.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: stageMaintenance.maxAttempts, UniqueOpts: uniqueUnfinished}
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	w *Worker
}

func (s *sweepWorker) Timeout(*river.Job[SweepArgs]) time.Duration { return stageMaintenance.timeout }

func (s *sweepWorker) NextRetry(job *river.Job[SweepArgs]) time.Time {
	return stageMaintenance.nextRetry(job.Attempt)
}

func (s *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	ids, err := s.w.unfinishedJobs(ctx, "")
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.w.reofferSteps(ctx, id, sweepSettled); err != nil {
			return fmt.Errorf("sweeping job %d: %w", id, err)
		}
	}
	return nil
}
