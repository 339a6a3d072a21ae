package exports

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// TriggerExport is a job started from the CLI's `pipeline export`, in the foreground.
const TriggerExport = "export"

// ErrRunning is returned (wrapped) by Start when the project has an unfinished export
// job: F&O runs one export of a data project at a time (DMF2025), and a recurring job's
// queue is drained by one reader, so a project's exports never overlap.
var ErrRunning = errors.New("an export of the project is still running")

// RunningError is ErrRunning with the job that runs.
type RunningError struct {
	Project string
	Job     int64
	// Foreground is true when the job is a foreground `pipeline export`'s.
	Foreground bool
}

func (e *RunningError) Error() string {
	where := "on the cluster (pipeline serve)"
	if e.Foreground {
		where = "of a `pipeline export` that was interrupted; it resumes at the next one"
	}
	return fmt.Sprintf("project %s: job %d is still running %s", e.Project, e.Job, where)
}

func (e *RunningError) Unwrap() error { return ErrRunning }

// Start records an export job of project and inserts its first step: ExportToPackage, or
// the first dequeue of a recurring export. fireTime is the cron tick of a scheduled run
// (zero otherwise): a tick starts one job across the cluster. It fails with a
// *RunningError when the project has an unfinished export job.
func (s *Stages) Start(ctx context.Context, project, trigger string, fireTime time.Time) (int64, error) {
	p, err := s.d.Projects(project)
	if err != nil {
		return 0, fmt.Errorf("project %s: %w", project, err)
	}
	if trigger == "" {
		trigger = TriggerExport
	}
	var id int64
	err = pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		if err := hist.LockDiscover(ctx, p.Name); err != nil {
			return err
		}
		for _, fg := range []bool{false, true} {
			running, err := hist.UnfinishedJobs(ctx, "export", p.Name, fg)
			if err != nil {
				return err
			}
			if len(running) > 0 {
				return &RunningError{Project: p.Name, Job: running[0], Foreground: fg}
			}
		}
		nj := jobhistory.NewJob{Project: p.Name, Kind: "export", Trigger: trigger, Environment: p.Environment,
			LegalEntity: p.LegalEntity, ProjectVersion: p.Version, Foreground: s.d.Foreground}
		if !fireTime.IsZero() {
			taken, err := hist.TickTaken(ctx, p.Name, fireTime)
			if err != nil || taken {
				return err
			}
			nj.ScheduledFor = fireTime
		}
		if id, err = hist.CreateJob(ctx, nj); err != nil {
			return err
		}
		j, err := hist.Job(ctx, id)
		if err != nil {
			return err
		}
		first := Step{Kind: StepRequest, Job: j}
		what := "ExportToPackage of " + p.DefinitionGroup
		if p.Recurring() {
			first = Step{Kind: StepDequeue, Job: j, Seq: 1}
			what = "dequeuing the messages of activity " + p.Activity
		}
		if err := hist.AddEvent(ctx, id, "start", "info", fmt.Sprintf("export started (%s): %s", trigger, what),
			map[string]any{"trigger": trigger}); err != nil {
			return err
		}
		return s.d.Steps.Insert(ctx, tx, first)
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Fire runs a scheduled or run-now tick of an export project (the scheduler's discover
// job of the project): a job is started unless the project is paused (schedule ticks
// only), no longer configured, or still exporting (the tick is skipped, and said so).
func (s *Stages) Fire(ctx context.Context, args scheduler.DiscoverArgs, store *scheduler.Store) error {
	ok, reason, err := scheduler.ShouldRun(ctx, store, args)
	if err != nil {
		return err
	}
	if !ok {
		s.d.Log.Info("export skipped", "project", args.Project, "reason", reason)
		return nil
	}
	fire := time.Time{}
	if args.Trigger == scheduler.TriggerSchedule {
		fire = args.FireTime
	}
	id, err := s.Start(ctx, args.Project, args.Trigger, fire)
	var running *RunningError
	switch {
	case errors.As(err, &running):
		s.d.Log.Warn("export tick skipped: the project's previous export is still running", "project", args.Project,
			"job", running.Job, "tick", args.FireTime)
		s.event(ctx, running.Job, "start", "warn", fmt.Sprintf("a %s tick of %s came while this job runs: skipped", args.Trigger, args.Project), nil)
		return nil
	case errors.Is(err, ErrUnknownProject):
		return permanent(err)
	case err != nil:
		return err
	}
	if id != 0 {
		s.d.Log.Info("export started", "project", args.Project, "job", id, "trigger", args.Trigger)
	}
	return nil
}
