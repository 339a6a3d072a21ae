package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// discoverWorker lists a project's source and starts a job per new, stable file.
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
	w, args := d.w, job.Args
	ok, reason, err := scheduler.ShouldRun(ctx, w.sched, args)
	if err != nil {
		return err
	}
	if !ok {
		w.log.Info("discover skipped", "project", args.Project, "reason", reason)
		return nil
	}
	p, err := w.project(args.Project)
	if err != nil {
		return river.JobCancel(err)
	}
	src, err := w.openSource(ctx, p)
	if err != nil {
		return err
	}
	defer src.Close()
	listing, err := src.List(ctx, p.Source.Path, listPattern(p.Source))
	if err != nil {
		return fmt.Errorf("listing the source of project %s: %w", p.Name, err)
	}
	// Files already taken are left out before the stability check, which would
	// otherwise keep a snoozed discover coming back for them.
	var fresh []ingest.FileInfo
	for _, f := range listing {
		_, taken, err := jobhistory.NewLedger(w.pool).FindTaken(ctx, p.Name, p.Source.Connection, f)
		if err != nil {
			return err
		}
		if !taken {
			fresh = append(fresh, f)
		}
	}
	stable, recheck := w.watcher.Stable(p.Name, p.Source.MinAge.D(), fresh)
	trigger := args.Trigger
	for _, f := range stable {
		id, started, err := w.startFile(ctx, p, f, trigger, args.FireTime, false)
		if errors.Is(err, errNoLegalEntity) {
			// Not this project's file after all; the others still go.
			w.log.Warn("file skipped", "project", p.Name, "file", f.Name, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		if started {
			w.log.Info("job started", "project", p.Name, "job", id, "file", f.Name, "trigger", trigger)
		}
	}
	if recheck > 0 {
		// A file is still being written (or was just seen): look again once it may be
		// stable rather than at the next tick, without holding a worker meanwhile.
		w.log.Info("discover waits for files to settle", "project", p.Name, "recheck", recheck)
		return river.JobSnooze(recheck)
	}
	return nil
}

// openSource opens the connection of a project's source.
func (w *Worker) openSource(ctx context.Context, p *config.Project) (ingest.Source, error) {
	cn, ok := w.cfg.Connections[p.Source.Connection]
	if !ok {
		return nil, fmt.Errorf("project %s: connection %q is not in the configuration", p.Name, p.Source.Connection)
	}
	return ingest.OpenSource(ctx, cn)
}

// startFile takes file f for project p: in one transaction it records the file in the
// ledger, creates the job and inserts its ingest job. Unless forced, a version of the
// file already taken is left alone (started is false). fireTime is the cron tick of a
// scheduled discover, zero otherwise.
func (w *Worker) startFile(ctx context.Context, p *config.Project, f ingest.FileInfo, trigger string, fireTime time.Time, force bool) (job int64, started bool, err error) {
	le, err := legalEntity(p, f.Name)
	if err != nil {
		return 0, false, err
	}
	err = pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		// Two discovers of one project (a tick and a run-now) must not both take a file.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('dmfpipe.discover/' || $1, 0))`, p.Name); err != nil {
			return fmt.Errorf("locking project %s: %w", p.Name, err)
		}
		ledger, hist := jobhistory.NewLedger(tx), history(tx)
		if !force {
			_, taken, err := ledger.FindTaken(ctx, p.Name, p.Source.Connection, f)
			if err != nil || taken {
				return err
			}
		}
		fileID, err := ledger.Record(ctx, p.Name, p.Source.Connection, f, force)
		if err != nil {
			return err
		}
		nj := jobhistory.NewJob{Project: p.Name, Kind: "import", Trigger: trigger, SourceFileID: fileID,
			Environment: p.Environment, LegalEntity: le}
		if trigger == scheduler.TriggerSchedule && !fireTime.IsZero() {
			// jobs has one row per (project, tick): a tick that finds several files
			// marks the first job with it.
			tickTaken, err := hist.TickTaken(ctx, p.Name, fireTime)
			if err != nil {
				return err
			}
			if !tickTaken {
				nj.ScheduledFor = fireTime
			}
		}
		if job, err = hist.CreateJob(ctx, nj); err != nil {
			return err
		}
		attrs := map[string]any{"file": f.Name, "size": f.Size, "trigger": trigger, "forced": force}
		if err := hist.AddEvent(ctx, job, "discover", "info", "took "+f.Name, attrs); err != nil {
			return err
		}
		if _, err := w.client.InsertTx(ctx, tx, IngestArgs{JobID: job}, nil); err != nil {
			return fmt.Errorf("inserting the ingest of job %d: %w", job, err)
		}
		started = true
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return job, started, nil
}
