package imports

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// Triggers of import jobs besides the scheduler's (scheduler.TriggerSchedule,
// scheduler.TriggerRunNow).
const (
	// TriggerRun is a job started from the CLI's `run`, in the foreground.
	TriggerRun = "run"
)

// LocalFiles is the connection that `run --file` reads local files through, read in
// place and never moved: a local folder at the file system's root. It needs no entry in
// the configuration (and a configured connection may not take its name).
const LocalFiles = "run-local-files"

// Discover lists a project's source and starts a job per new, stable file. A discover
// of a project this node does not know waits for a node that does.
func (s *Stages) Discover(ctx context.Context, args scheduler.DiscoverArgs, store *scheduler.Store) error {
	p, err := s.d.Projects(args.Project)
	if errors.Is(err, ErrUnknownProject) {
		// The leader fires the ticks of projects other nodes know (see worker): leave the
		// discover to one of them; when none knows the project, ShouldRun skips it.
		others, kerr := s.hist(s.d.DB).NodesKnowing(ctx, args.Project, "", s.d.Node, false, s.d.NodeFresh)
		if kerr != nil {
			return kerr
		}
		if len(others) > 0 {
			return snooze(jobstep.LeaveFor)
		}
	}
	ok, reason, serr := scheduler.ShouldRun(ctx, store, args)
	if serr != nil {
		return serr
	}
	if !ok {
		s.d.Log.Info("discover skipped", "project", args.Project, "reason", reason)
		return nil
	}
	if err != nil && (p == nil || p.Pattern == nil) {
		return permanent(fmt.Errorf("project %s: %w", args.Project, err))
	}
	if err != nil {
		// Its files are still found; its jobs fail at ingest with the problems.
		s.d.Log.Error("project's settings do not compile: its jobs will fail until they are fixed (pipeline check)",
			"project", args.Project, "err", err)
	}
	src, err := s.d.Source(ctx, p.Source.Connection)
	if err != nil {
		return err
	}
	defer src.Close()
	listing, err := src.List(ctx, p.Source.Path, p.Pattern)
	if err != nil {
		return fmt.Errorf("listing the source of project %s: %w", p.Name, err)
	}
	// Files already taken are left out before the stability check, which would
	// otherwise keep a snoozed discover coming back for them.
	ledger := jobhistory.NewLedger(s.d.DB)
	var fresh []ingest.FileInfo
	for _, f := range listing {
		_, taken, err := ledger.FindTaken(ctx, p.Name, p.Source.Connection, f)
		if err != nil {
			return err
		}
		if !taken {
			fresh = append(fresh, f)
		}
	}
	stable, recheck, err := s.d.Watcher.Stable(ctx, p.Name, p.Source.Connection, p.Source.MinAge.D(), fresh)
	if err != nil {
		return err
	}
	for _, f := range stable {
		id, started, err := s.take(ctx, p, p.Source.Connection, f, args.Trigger, args.FireTime, false)
		if errors.Is(err, ErrNoLegalEntity) {
			// Not this project's file after all; the others still go.
			s.d.Log.Warn("file skipped", "project", p.Name, "file", f.Name, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		if started {
			s.d.Log.Info("job started", "project", p.Name, "job", id, "file", f.Name, "trigger", args.Trigger)
		}
	}
	if recheck > 0 {
		// A file is still being written (or was just seen): look again once it may be
		// stable rather than at the next tick, without holding a worker meanwhile.
		s.d.Log.Info("discover waits for files to settle", "project", p.Name, "recheck", recheck)
		return snooze(recheck)
	}
	return nil
}

// Start records and starts a job per file of project, as `pipeline run` does. files are
// paths in the project's source connection, absolute or relative to source.path; none
// means every file the source lists now for the project's pattern (without waiting for
// files to settle: the caller says they are complete). With local, files are local paths
// read in place through LocalFiles; each must fit the project's pattern. Files already
// taken are skipped unless force, which also imports content already imported. It returns
// the ids of the jobs started.
func (s *Stages) Start(ctx context.Context, project string, files []string, local bool, trigger string, force bool) ([]int64, error) {
	p, err := s.d.Projects(project)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", project, err)
	}
	if trigger == "" {
		trigger = TriggerRun
	}
	conn := p.Source.Connection
	if local {
		conn = LocalFiles
	}
	src, err := s.d.Source(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var infos []ingest.FileInfo
	if len(files) == 0 {
		if infos, err = src.List(ctx, p.Source.Path, p.Pattern); err != nil {
			return nil, fmt.Errorf("listing the source of project %s: %w", p.Name, err)
		}
	}
	for _, f := range files {
		name := f
		if !local && !strings.HasPrefix(f, "/") {
			name = path.Join(p.Source.Path, f)
		}
		fi, err := src.Stat(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", p.Name, err)
		}
		if local {
			fi.Name = "/" + fi.Name // recorded and shown as the path the user gave
			if _, err := LegalEntity(p, fi.Name, true); err != nil {
				return nil, err
			}
		}
		infos = append(infos, fi)
	}
	var ids []int64
	for _, fi := range infos {
		id, started, err := s.take(ctx, p, conn, fi, trigger, time.Time{}, force)
		if err != nil {
			return ids, err
		}
		if started {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// take takes file f of connection conn for project p: in one transaction it records the
// file in the ledger, creates the job and inserts its ingest. Unless forced, a version of
// the file already taken is left alone (started is false). fireTime is the cron tick of a
// scheduled discover, zero otherwise.
func (s *Stages) take(ctx context.Context, p *Project, conn string, f ingest.FileInfo, trigger string, fireTime time.Time, force bool) (job int64, started bool, err error) {
	le, err := LegalEntity(p, f.Name, conn == LocalFiles)
	if err != nil {
		return 0, false, err
	}
	err = pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		if err := hist.LockDiscover(ctx, p.Name); err != nil {
			return err
		}
		ledger := jobhistory.NewLedger(tx)
		if !force {
			_, taken, err := ledger.FindTaken(ctx, p.Name, conn, f)
			if err != nil || taken {
				return err
			}
		}
		fileID, err := ledger.Record(ctx, p.Name, conn, f, force)
		if err != nil {
			return err
		}
		nj := jobhistory.NewJob{Project: p.Name, Kind: "import", Trigger: trigger, SourceFileID: fileID,
			Environment: p.Environment, LegalEntity: le, ProjectVersion: p.Version, Foreground: s.d.Foreground}
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
		j, err := hist.Job(ctx, job)
		if err != nil {
			return err
		}
		started = true
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepIngest, Job: j})
	})
	if err != nil {
		return 0, false, err
	}
	return job, started, nil
}
