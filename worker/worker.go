package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/scheduler"
	"github.com/dmfpipe/dmfpipe/staging"

	// The source backends a project's connection may name.
	_ "github.com/dmfpipe/dmfpipe/ingest/azblob"
	_ "github.com/dmfpipe/dmfpipe/ingest/local"
	_ "github.com/dmfpipe/dmfpipe/ingest/sftp"
)

// Deps are what a Worker works with.
type Deps struct {
	// Pool is the database (dmfpipe's schema and River's, see migrations.Up). Required.
	Pool *pgxpool.Pool
	// Config is the loaded configuration. Required.
	Config *config.Config
	// Catalog is the entity catalog. Defaults to catalog.Default().
	Catalog *catalog.Catalog
	// Logger receives the workers' and River's logs. Defaults to discarding.
	Logger *slog.Logger
	// DMF returns the client of an F&O environment. Defaults to a client built from the
	// environment's configuration (one per environment, reused).
	DMF func(envName string) (*dmf.Client, error)
	// Notifier sends the notifications of projects that ask for them. Optional: without
	// it no notify job is inserted.
	Notifier notify.Sender
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Periodic registers the periodic jobs: the scheduler's (one per scheduled project)
	// and the housekeeping (maintenance.go). True for `serve`, false for a foreground run.
	Periodic bool
	// ID names this node in River's job records (attempted_by) and keys its liveness lock
	// (see reclaim.go): it must be unique among live processes. Defaults to host-pid-random.
	ID string
	// ReclaimInterval is how often the node looks for the running jobs of dead nodes (and
	// a third of it, how often it checks its own liveness connection). Defaults to
	// DefaultReclaimInterval.
	ReclaimInterval time.Duration
	// Tune, when set, adjusts the River configuration before the client is built (tests
	// shorten the fetch intervals with it).
	Tune func(*river.Config)
}

// Worker owns the River client that runs the import stages.
type Worker struct {
	pool     *pgxpool.Pool
	cfg      *config.Config
	cat      *catalog.Catalog
	log      *slog.Logger
	dmf      func(envName string) (*dmf.Client, error)
	notifier notify.Sender
	now      func() time.Time

	client  *river.Client[pgx.Tx]
	watcher *ingest.Watcher
	staging *staging.Store
	sched   *scheduler.Store

	// Liveness (reclaim.go): this node's ID, its lock's connection (owned by watch once
	// started), closed when the lock is lost, and when watch has ended.
	id           string
	reclaimEvery time.Duration
	live         *pgx.Conn
	lost         chan struct{}
	watchDone    chan struct{}

	mu       sync.Mutex
	compiled map[string]*compiledProject
	gates    map[string]chan struct{} // by environment/definition group, see withGroupLock
}

// stageJob reads the import job a stage works on; a job that no longer exists cancels
// the stage's River job instead of retrying it.
func stageJob(ctx context.Context, hist *jobhistory.Store, id int64) (*jobhistory.Job, error) {
	j, err := hist.Job(ctx, id)
	if errors.Is(err, jobhistory.ErrJobNotFound) {
		return nil, river.JobCancel(err)
	}
	return j, err
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
	if d.Pool == nil || d.Config == nil {
		return nil, errors.New("worker: a pool and a config are required")
	}
	w := &Worker{
		pool: d.Pool, cfg: d.Config, cat: d.Catalog, log: d.Logger, dmf: d.DMF, notifier: d.Notifier, now: d.Now,
		staging:  staging.NewStore(d.Pool),
		sched:    &scheduler.Store{DB: d.Pool, Projects: d.Config.Projects},
		compiled: map[string]*compiledProject{},
		gates:    map[string]chan struct{}{},
		id:       d.ID, reclaimEvery: d.ReclaimInterval, lost: make(chan struct{}),
	}
	if w.id == "" {
		w.id = nodeID()
	}
	if w.reclaimEvery <= 0 {
		w.reclaimEvery = DefaultReclaimInterval
	}
	if w.cat == nil {
		w.cat = catalog.Default()
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.dmf == nil {
		w.dmf = clientsFromConfig(d.Config, w.log)
	}
	w.watcher = ingest.NewWatcher(w.now)

	workers := river.NewWorkers()
	river.AddWorker(workers, &discoverWorker{w: w})
	river.AddWorker(workers, &ingestWorker{w: w})
	river.AddWorker(workers, &uploadWorker{w: w})
	river.AddWorker(workers, &pollWorker{w: w})
	river.AddWorker(workers, &finalizeWorker{w: w})
	river.AddWorker(workers, &notifyWorker{w: w})
	river.AddWorker(workers, &housekeeping[PurgeArgs]{work: w.purge})
	river.AddWorker(workers, &housekeeping[SweepArgs]{work: w.sweep})
	rc := &river.Config{
		ID:     w.id,
		Logger: w.log,
		Queues: map[string]river.QueueConfig{
			scheduler.Queue: {MaxWorkers: 2},
			// Ingest is CPU-bound (read, map, validate) and runs its own goroutines.
			QueueIngest: {MaxWorkers: 1},
			// Uploads build and send packages; ImportFromPackage itself is serialised
			// per definition group (lane) by an advisory lock.
			QueueUpload:      {MaxWorkers: 4},
			QueuePoll:        {MaxWorkers: 10},
			QueueFinalize:    {MaxWorkers: 2},
			QueueNotify:      {MaxWorkers: 2},
			QueueMaintenance: {MaxWorkers: 1},
		},
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
		periodic, err := scheduler.PeriodicJobs(d.Config.Projects)
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

// Start takes this node's liveness lock, reclaims the running jobs of dead nodes (and of a
// dead predecessor with this node's ID), then starts working jobs (and, with
// Deps.Periodic, firing schedules) and reclaiming periodically (see reclaim.go).
func (w *Worker) Start(ctx context.Context) error {
	if err := w.takeLiveness(ctx); err != nil {
		return err
	}
	if _, err := w.reclaim(ctx, true); err != nil {
		w.log.Error("reclaiming the jobs of dead nodes", "err", err)
	}
	if err := w.client.Start(ctx); err != nil {
		w.releaseLiveness()
		return err
	}
	w.watchDone = make(chan struct{})
	go w.watch(w.client.Stopped())
	return nil
}

// Stop stops fetching jobs and waits for the running ones until ctx ends; unfinished
// jobs are taken up again by the next client (see River's graceful shutdown). The
// liveness lock is released once the client has stopped: when ctx ends first, the lock
// stays held while this process still runs jobs.
func (w *Worker) Stop(ctx context.Context) error {
	if err := w.client.Stop(ctx); err != nil {
		return err
	}
	if w.watchDone != nil {
		select {
		case <-w.watchDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// project returns a configured import project.
func (w *Worker) project(name string) (*config.Project, error) {
	for _, p := range w.cfg.Projects {
		if p.Name == name {
			if p.Kind != "import" || p.Source == nil || p.Target == nil {
				return nil, fmt.Errorf("project %s is not an import project with a source and a target", name)
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("project %q is not in the configuration", name)
}

// history returns the job history over db.
func history(db jobhistory.DBTX) *jobhistory.Store { return jobhistory.NewStore(db) }

// event records an entry of a job's timeline; a failure to record it is logged, not
// returned: the timeline must not fail an import.
func (w *Worker) event(ctx context.Context, job int64, stage, level, msg string, attrs map[string]any) {
	if err := history(w.pool).AddEvent(ctx, job, stage, level, msg, attrs); err != nil {
		w.log.Warn("recording a job event", "job", job, "err", err)
	}
}

// clientsFromConfig returns a DMF client per configured environment, built on first use.
func clientsFromConfig(cfg *config.Config, log *slog.Logger) func(string) (*dmf.Client, error) {
	var (
		mu      sync.Mutex
		clients = map[string]*dmf.Client{}
	)
	return func(name string) (*dmf.Client, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[name]; ok {
			return c, nil
		}
		env, ok := cfg.Environments[name]
		if !ok {
			return nil, fmt.Errorf("environment %q is not in the configuration", name)
		}
		c, err := dmf.New(ClientOptions(env, log))
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", name, err)
		}
		clients[name] = c
		return c, nil
	}
}

// ClientOptions are the dmf client options of a configured environment.
func ClientOptions(env *config.Environment, log *slog.Logger) dmf.Options {
	return dmf.Options{
		BaseURL:              env.URL,
		Tenant:               env.Tenant,
		ClientID:             env.ClientID,
		ClientSecret:         env.ClientSecret.Value(),
		TokenURL:             env.TokenURL,
		TokenVersion:         env.TokenVersion,
		MaxRequestsPerMinute: env.MaxRequestsPerMinute,
		Logger:               log,
		Poll: dmf.PollOptions{
			Initial: env.Poll.Initial.D(), Max: env.Poll.Max.D(), Deadline: env.Poll.Deadline.D(),
		},
	}
}
