package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/liveness"
	"github.com/dmfpipe/dmfpipe/internal/tempfile"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/scheduler"
	"github.com/dmfpipe/dmfpipe/staging"
)

// Parts are what a Worker takes from the composition root (*app.App): the
// configuration, the compiled projects, the DMF clients, the sources and the notifier.
type Parts interface {
	Config() *config.Config
	// ImportProject returns a compiled import project: an error wrapping
	// imports.ErrUnknownProject for one this node does not know, another (config
	// problems) for one that does not compile.
	ImportProject(name string) (*imports.Project, error)
	// DMF returns the client of an F&O environment, shared by the process.
	DMF(env string) (*dmf.Client, error)
	// Source opens a connection by name (imports.LocalFiles included).
	Source(ctx context.Context, connection string) (ingest.Source, error)
	// Notifier sends the notifications of projects that ask for them; nil for none (then
	// no notify step is inserted).
	Notifier() notify.Sender
	// ExportProject returns a compiled export project: an error wrapping
	// exports.ErrUnknownProject for one this node does not know, config problems for one
	// that does not compile.
	ExportProject(name string) (*exports.Project, error)
	// Destination opens a connection by name to write export files to.
	Destination(ctx context.Context, connection string) (ingest.Destination, error)
}

// Deps are what a Worker works with.
type Deps struct {
	// Pool is the database (dmfpipe's schema and River's, see migrations.Up). Required.
	Pool *pgxpool.Pool
	// Parts are the configuration's running parts. Required.
	Parts Parts
	// Logger receives the workers' and River's logs. Defaults to discarding.
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Periodic registers the periodic jobs: the scheduler's (one per scheduled project)
	// and the housekeeping (maintenance.go). True for `serve`, false for a foreground run.
	Periodic bool
	// Foreground, when set, names the project of a foreground `pipeline run`: the worker
	// then works only that project's foreground queues (see queues.go), the jobs it
	// starts are worked by it and by later runs of the project, never by serve nodes, and
	// losing the database stops it (the run exits; its job resumes at the next run).
	Foreground string
	// ID names this node in River's job records (attempted_by) and keys its liveness lock
	// (see reclaim.go): it must be unique among live processes. Defaults to host-pid-random.
	ID string
	// ReclaimInterval is how often the node looks for the running jobs of dead nodes (and
	// a third of it, how often it checks its own liveness connection). Defaults to
	// DefaultReclaimInterval.
	ReclaimInterval time.Duration
	// ReconnectTimeout bounds how long a serve node that lost the database tries to get
	// it back before it gives up (Lost is closed; the process should exit non-zero).
	// Defaults to DefaultReconnectTimeout.
	ReconnectTimeout time.Duration
	// Observer, when set, hears of every job that ends (metrics).
	Observer imports.Observer
	// Tune, when set, adjusts the River configuration before the client is built (tests
	// shorten the fetch intervals with it).
	Tune func(*river.Config)
}

// Worker owns the River client that runs the import stages.
type Worker struct {
	pool    *pgxpool.Pool
	cfg     *config.Config
	log     *slog.Logger
	now     func() time.Time
	stages  *imports.Stages
	exports *exports.Stages
	sched   *scheduler.Store

	client     *river.Client[pgx.Tx]
	foreground string
	projects   map[string]string // the projects this node knows: name → version
	periodic   bool              // this node fires schedules (Deps.Periodic)
	// foreign are the schedules of projects only other nodes know, fired by this node's
	// client when it leads (schedules.go).
	foreign map[string]jobhistory.Schedule

	// Liveness (reclaim.go): this node's ID, its lock (owned by watch once started),
	// closed when the database is lost for good, when watch has ended, whether the node
	// works jobs now.
	id               string
	reclaimEvery     time.Duration
	reconnectTimeout time.Duration
	live             *liveness.Lock
	lost             chan struct{}
	lostOnce         sync.Once
	stopping         chan struct{}
	stopOnce         sync.Once
	watchDone        chan struct{}
	ready            atomic.Bool
	// runCtx is Start's context, which the River client runs jobs under (again after a
	// reconnection).
	runCtx context.Context
}

// poolNeed is the connection pool size the queues' workers need: one per worker plus
// River's own (fetching, completing, leadership, notifications).
func poolNeed(queues map[string]river.QueueConfig) int {
	n := 4
	for _, q := range queues {
		n += q.MaxWorkers
	}
	return n
}

// New builds a Worker and its River client; nothing is started (see Start).
func New(d Deps) (*Worker, error) {
	if d.Pool == nil || d.Parts == nil {
		return nil, errors.New("worker: a pool and the configuration's parts are required")
	}
	cfg := d.Parts.Config()
	w := &Worker{
		pool: d.Pool, cfg: cfg, log: d.Logger, now: d.Now, foreground: d.Foreground,
		sched: &scheduler.Store{DB: d.Pool, Projects: cfg.Projects},
		id:    d.ID, reclaimEvery: d.ReclaimInterval, reconnectTimeout: d.ReconnectTimeout, lost: make(chan struct{}),
		projects: map[string]string{}, periodic: d.Periodic, foreign: map[string]jobhistory.Schedule{},
	}
	if w.id == "" {
		w.id = nodeID()
	}
	if w.reclaimEvery <= 0 {
		w.reclaimEvery = DefaultReclaimInterval
	}
	if w.reconnectTimeout <= 0 {
		w.reconnectTimeout = DefaultReconnectTimeout
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	for _, p := range cfg.Projects {
		if ip, err := d.Parts.ImportProject(p.Name); err == nil {
			w.projects[p.Name] = ip.Version
		}
		if ep, err := d.Parts.ExportProject(p.Name); err == nil {
			w.projects[p.Name] = ep.Version
		}
	}
	w.stages = imports.New(imports.Deps{
		DB: d.Pool, Projects: d.Parts.ImportProject, Environments: cfg.Environments, DMF: d.Parts.DMF, Source: d.Parts.Source,
		Notifier: d.Parts.Notifier(), ConsoleURL: cfg.Console.BaseURL, Steps: &riverSteps{w: w},
		Node: w.id, Foreground: d.Foreground != "", NodeFresh: nodeFresh, Observer: d.Observer, Log: w.log, Now: w.now,
	})

	metrics, err := exports.RegisterMetrics(prometheus.DefaultRegisterer)
	if err != nil {
		w.log.Warn("registering the export metrics", "err", err)
	}
	w.exports = exports.New(exports.Deps{
		DB: d.Pool, Projects: d.Parts.ExportProject, Environments: cfg.Environments, DMF: d.Parts.DMF,
		Destination: d.Parts.Destination, Notifier: d.Parts.Notifier(), ConsoleURL: cfg.Console.BaseURL,
		Steps: &riverExportSteps{w: w}, Node: w.id, Foreground: d.Foreground != "", NodeFresh: nodeFresh,
		Metrics: metrics, Log: w.log, Now: w.now,
	})

	workers := river.NewWorkers()
	st := w.stages
	river.AddWorker(workers, &step[scheduler.DiscoverArgs]{stage: stageDiscover,
		run: func(ctx context.Context, _ imports.Attempt, a scheduler.DiscoverArgs) error {
			return w.discover(ctx, a)
		}})
	// The steps of a job say on its timeline when an attempt failed and will be retried
	// (notify says so itself, with the mail server's answer).
	river.AddWorker(workers, &step[IngestArgs]{stage: stageIngest,
		run: func(ctx context.Context, at imports.Attempt, a IngestArgs) error { return st.Ingest(ctx, at, a.JobID) },
		retrying: func(ctx context.Context, at imports.Attempt, a IngestArgs, cause error, in time.Duration) {
			st.Retrying(ctx, a.JobID, imports.StepIngest, at, cause, in)
		}})
	river.AddWorker(workers, &step[UploadArgs]{stage: stageUpload,
		run: func(ctx context.Context, at imports.Attempt, a UploadArgs) error {
			return st.Upload(ctx, at, a.JobID, a.ChunkNo)
		},
		retrying: func(ctx context.Context, at imports.Attempt, a UploadArgs, cause error, in time.Duration) {
			st.Retrying(ctx, a.JobID, imports.StepUpload, at, cause, in)
		}})
	river.AddWorker(workers, &step[PollArgs]{stage: stagePoll,
		run: func(ctx context.Context, at imports.Attempt, a PollArgs) error {
			return st.Poll(ctx, at, a.ExecutionID)
		},
		retrying: func(ctx context.Context, at imports.Attempt, a PollArgs, cause error, in time.Duration) {
			st.RetryingPoll(ctx, a.ExecutionID, at, cause, in)
		}})
	river.AddWorker(workers, &step[FinalizeArgs]{stage: stageFinalize,
		run: func(ctx context.Context, _ imports.Attempt, a FinalizeArgs) error { return st.Finalize(ctx, a.JobID) },
		retrying: func(ctx context.Context, at imports.Attempt, a FinalizeArgs, cause error, in time.Duration) {
			st.Retrying(ctx, a.JobID, imports.StepFinalize, at, cause, in)
		}})
	river.AddWorker(workers, &step[NotifyArgs]{stage: stageNotify,
		run: func(ctx context.Context, at imports.Attempt, a NotifyArgs) error { return st.Notify(ctx, at, a.JobID) }})
	river.AddWorker(workers, &step[BulkArgs]{stage: stageBulk,
		run: func(ctx context.Context, at imports.Attempt, a BulkArgs) error { return st.Bulk(ctx, at, a.EntryID) }})
	river.AddWorker(workers, &step[PurgeArgs]{stage: stageMaintenance,
		run: func(ctx context.Context, _ imports.Attempt, _ PurgeArgs) error { return w.purge(ctx) }})
	river.AddWorker(workers, &step[SweepArgs]{stage: stageMaintenance,
		run: func(ctx context.Context, _ imports.Attempt, _ SweepArgs) error {
			return errors.Join(st.Sweep(ctx), w.exports.Sweep(ctx))
		}})
	addExportWorkers(workers, w.exports)
	rc := &river.Config{
		ID:                   w.id,
		Logger:               slog.New(quietRiver{w.log.Handler()}),
		Queues:               queues(d.Foreground),
		Workers:              workers,
		RescueStuckJobsAfter: rescueAfter,
		// The scheduler's catch-up relies on finished discovers (their unique keys)
		// outliving a leader change: River's 24-hour defaults are kept on purpose.
		CompletedJobRetentionPeriod: 24 * time.Hour,
		CancelledJobRetentionPeriod: 24 * time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
	}
	if need := poolNeed(rc.Queues); int(d.Pool.Config().MaxConns) < need {
		// Every running job may hold a connection (an upload holds its definition group's
		// lock on one), and River needs a few of its own: a smaller pool makes the
		// stages wait on each other for connections.
		w.log.Warn("the database pool is smaller than the workers need; raise database.max_conns",
			"max_conns", d.Pool.Config().MaxConns, "need", need)
	}
	if d.Periodic {
		periodic, err := scheduler.PeriodicJobs(cfg.Projects)
		if err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
		rc.PeriodicJobs = append(periodic, maintenanceJobs()...)
	}
	if d.Tune != nil {
		d.Tune(rc)
	}
	client, err := river.NewClient(riverpgxv5.New(d.Pool), rc)
	if err != nil {
		return nil, fmt.Errorf("worker: building the river client: %w", err)
	}
	w.client = client
	return w, nil
}

// Client is the River client, with every stage's worker and queue.
func (w *Worker) Client() *river.Client[pgx.Tx] { return w.client }

// Stages are the import stages this worker runs.
func (w *Worker) Stages() *imports.Stages { return w.stages }

// Exports are the export stages this worker runs.
func (w *Worker) Exports() *exports.Stages { return w.exports }

// Ready reports whether the node works jobs now: its River client runs and it holds its
// liveness lock. It is false while the node has lost the database and reconnects.
func (w *Worker) Ready() bool { return w.ready.Load() }

// Start takes this node's liveness lock, reclaims the running jobs of dead nodes (and of a
// dead predecessor with this node's ID), registers the node with the projects it knows,
// then starts working jobs (and, with Deps.Periodic, firing schedules) and reclaiming
// periodically (see reclaim.go).
func (w *Worker) Start(ctx context.Context) error {
	for _, name := range tempfile.RemoveStale("") {
		w.log.Info("removed a temporary file a process that died left behind", "file", name)
	}
	if err := w.takeLiveness(ctx); err != nil {
		return err
	}
	w.runCtx = ctx
	w.syncSchedules(ctx)
	if err := w.client.Start(ctx); err != nil {
		w.releaseLiveness()
		return err
	}
	w.ready.Store(true)
	w.watchDone = make(chan struct{})
	go w.watch()
	return nil
}

// Stop stops fetching jobs and waits for the running ones until ctx ends; unfinished
// jobs are taken up again by the next client (see River's graceful shutdown). The
// liveness lock is released and the node's registration removed once the client has
// stopped: when ctx ends first, the lock stays held while this process still runs jobs.
func (w *Worker) Stop(ctx context.Context) error {
	w.ready.Store(false)
	if w.watchDone == nil {
		return nil
	}
	err := w.client.Stop(ctx)
	w.stopWatch() // the watch releases the lock once the client has stopped
	select {
	case <-w.watchDone:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}

// StopNow stops at once: the running jobs are cancelled (their temp files removed) and
// resume from their last committed step at the next start; it waits for them until ctx
// ends. The liveness lock is released once they have returned.
func (w *Worker) StopNow(ctx context.Context) error {
	w.ready.Store(false)
	if w.watchDone == nil {
		return nil
	}
	err := w.client.StopAndCancel(ctx)
	w.stopWatch()
	select {
	case <-w.watchDone:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}

// StartJob records and starts a job per file of project's source, as `pipeline run`
// does (see imports.Stages.Start).
func (w *Worker) StartJob(ctx context.Context, project string, files []string, trigger string, force bool) ([]int64, error) {
	return w.stages.Start(ctx, project, files, false, trigger, force)
}

// Resume resumes project's unfinished jobs of this node's kind (imports.Stages.Resume).
func (w *Worker) Resume(ctx context.Context, project string) ([]int64, error) {
	return w.stages.Resume(ctx, project)
}

// Summary returns where a job stands.
func (w *Worker) Summary(ctx context.Context, id int64) (imports.JobSummary, error) {
	return w.stages.Summary(ctx, id)
}

// waitInterval is how often WaitJob reads the job.
const waitInterval = 200 * time.Millisecond

// WaitJob waits until a job has ended (or ctx ends, or this node lost the database for
// good: ErrLivenessLost) and returns its summary.
func (w *Worker) WaitJob(ctx context.Context, id int64) (imports.JobSummary, error) {
	t := time.NewTicker(waitInterval)
	defer t.Stop()
	for {
		s, err := w.Summary(ctx, id)
		if err != nil || s.Done() {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, errors.Join(fmt.Errorf("waiting for job %d", id), ctx.Err())
		case <-w.lost:
			return s, fmt.Errorf("waiting for job %d: %w", id, ErrLivenessLost)
		case <-t.C:
		}
	}
}

// purge drops the staging areas whose retention has ended (PurgeArgs' work).
func (w *Worker) purge(ctx context.Context) error {
	retention := w.cfg.Database.StagingRetention.D()
	purged, err := staging.NewStore(w.pool).Purge(ctx, w.now().Add(-retention))
	if len(purged) > 0 {
		w.log.Info("purged the staged rows of finished jobs", "jobs", len(purged), "first", purged[0],
			"last", purged[len(purged)-1], "retention", retention)
	}
	return err
}

// nodeFresh is how recently a node must have refreshed its registration (every
// ReclaimInterval, 15 s by default, whatever another node's setting) to count as live;
// the row of a node that died goes sooner, when a node finds its liveness lock free.
const nodeFresh = 2 * time.Minute

// nodeHost is this machine's name for the node registry.
func nodeHost() string {
	host, _ := os.Hostname()
	return host
}
