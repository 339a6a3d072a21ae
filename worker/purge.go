package worker

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// purgeEvery is how often a cluster drops the staging areas whose retention has ended.
const purgeEvery = time.Hour

var stagePurge = stage{timeout: 30 * time.Minute, maxAttempts: 3, backoff: time.Minute, maxBackoff: 10 * time.Minute}

// PurgeArgs drops the staging areas of the jobs that finished longer ago than
// database.staging_retention. `serve` fires it hourly (and at start) on the leader.
type PurgeArgs struct{}

// Kind implements river.JobArgs.
func (PurgeArgs) Kind() string { return "dmfpipe.purge" }

// InsertOpts implements river.JobArgsWithInsertOpts: one purge waits or runs at a time.
func (PurgeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: stagePurge.maxAttempts, UniqueOpts: uniqueUnfinished}
}

// purgeJob is the periodic job that fires PurgeArgs.
func purgeJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(purgeEvery), func() (river.JobArgs, *river.InsertOpts) {
		return PurgeArgs{}, nil
	}, &river.PeriodicJobOpts{ID: "purge", RunOnStart: true})
}

type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	w *Worker
}

func (p *purgeWorker) Timeout(*river.Job[PurgeArgs]) time.Duration { return stagePurge.timeout }

func (p *purgeWorker) NextRetry(job *river.Job[PurgeArgs]) time.Time {
	return stagePurge.nextRetry(job.Attempt)
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
