package scheduler

import (
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Kind is the River job kind of DiscoverArgs.
const Kind = "dmfpipe.discover"

// Queue is the River queue discover jobs go to; a client working them must configure it.
const Queue = "discover"

// The triggers of a discover job.
const (
	// TriggerSchedule: a tick of the project's cron schedule.
	TriggerSchedule = "schedule"
	// TriggerRunNow: an operator asked for a run (console, CLI); it runs even when the
	// project is paused.
	TriggerRunNow = "run_now"
)

// DiscoverArgs asks a worker to list a project's source and start a job per new file.
//
// A scheduled discover is unique by (Project, FireTime) in every job state, completed
// included: whichever node is leader when a tick comes, and however often the tick is
// offered (a leader change right at the tick), it is inserted once. River keeps a finished
// job, and so its unique key, until the job cleaner deletes it (24 h by default); fire times
// never repeat, so that window only matters in that it must outlast a leader change.
// A run-now discover has no unique key: asking again always inserts a new job.
type DiscoverArgs struct {
	Project string `json:"project" river:"unique"`
	// Trigger is TriggerSchedule or TriggerRunNow.
	Trigger string `json:"trigger"`
	// FireTime is the schedule's tick this job fires for, in UTC (not the time it was
	// inserted); zero for run-now.
	FireTime time.Time `json:"fire_time,omitzero" river:"unique"`
}

// Kind implements river.JobArgs.
func (DiscoverArgs) Kind() string { return Kind }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (a DiscoverArgs) InsertOpts() river.InsertOpts {
	opts := river.InsertOpts{Queue: Queue}
	if a.Trigger == TriggerSchedule {
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true, ByState: rivertype.JobStates()}
	}
	return opts
}
