package worker

import (
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

// InsertOpts implements river.JobArgsWithInsertOpts.
func (PurgeArgs) InsertOpts() river.InsertOpts { return stageMaintenance.opts() }

// SweepArgs re-offers the steps of unfinished import jobs whose River job is gone (see
// Worker.Resume): a job whose step was lost, by a bug or by hand, ends instead of
// waiting forever. `serve` fires it every 5 minutes (and at start) on the leader.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "dmfpipe.sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SweepArgs) InsertOpts() river.InsertOpts { return stageMaintenance.opts() }
