package imports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/staging"
)

// StepKind names a step of an import job.
type StepKind string

// The steps of an import job, in order.
const (
	StepIngest   StepKind = "ingest"
	StepUpload   StepKind = "upload"
	StepPoll     StepKind = "poll"
	StepFinalize StepKind = "finalize"
	StepNotify   StepKind = "notify"
	// StepBulk is an operator's action over many staged rows, in the background (see
	// Stages.Act).
	StepBulk StepKind = "bulk"
)

// Step is a step of an import job for a runner (River) to run: the job's, with the chunk
// of an upload or the execution of a poll.
type Step struct {
	Kind StepKind
	// Job is the job the step works on; the runner routes the step by it (a foreground
	// run's job is worked by that run).
	Job       *jobhistory.Job
	Chunk     int
	Execution string
	// Action is the audit entry of a bulk step.
	Action int64
}

// Steps is the runner of the steps (package worker, on River).
type Steps interface {
	// Insert inserts steps in the transaction that records what leads to them; a step
	// already waiting or running is not inserted again.
	Insert(ctx context.Context, tx pgx.Tx, steps ...Step) error
	// Offer inserts a step on its own and reports whether it was missing: false when the
	// same step already waits or runs.
	Offer(ctx context.Context, step Step) (inserted bool, err error)
	// Hurry makes the waiting steps (retries, snoozed polls) of jobs runnable now.
	Hurry(ctx context.Context, jobs []int64, executions []string) error
	// Name is the runner's name of a kind of step, for messages ("dmfpipe.poll").
	Name(kind StepKind) string
	// Cancel cancels, in tx, every step of job that has not finished (those of its
	// executions included) and returns how many there were; a running one is told to
	// stop.
	Cancel(ctx context.Context, tx pgx.Tx, job int64, executions []string) (int, error)
}

// Deps are what the stages work with.
type Deps struct {
	// DB is the database: job history, staging and River. Required.
	DB *pgxpool.Pool
	// Projects returns a compiled import project: an error wrapping ErrUnknownProject
	// when this node does not know it, another when it does not compile (with the project's
	// settings and version, uncompiled, for the steps that need no mapping). Required.
	Projects func(name string) (*Project, error)
	// Environments are the configured F&O environments (their poll schedules).
	Environments map[string]*config.Environment
	// DMF returns the client of an F&O environment. Required.
	DMF func(env string) (*dmf.Client, error)
	// Source opens a connection by name. Required.
	Source func(ctx context.Context, connection string) (ingest.Source, error)
	// Watcher decides when listed files are stable. Defaults to one keeping its
	// sightings in DB, so that a wait one node started is finished by whichever lists next.
	Watcher *ingest.Watcher
	// Notifier sends the notifications of projects that ask for them; nil sends none.
	Notifier notify.Sender
	// ConsoleURL is the console's public URL, for links in notifications.
	ConsoleURL string
	// Steps runs the next steps. Required.
	Steps Steps
	// Node is this node's ID: events name it, and a step left for another node says so.
	Node string
	// Foreground is true for a foreground `pipeline run`, which works its own jobs.
	Foreground bool
	// NodeFresh is how recently a node must have been seen to count as live when a step is
	// left to it. Defaults to 2 minutes.
	NodeFresh time.Duration
	// Observer, when set, hears of every job that ends (metrics).
	Observer Observer
	// Log receives the stages' logs. Defaults to discarding.
	Log *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// ErrUnknownProject is returned (wrapped) for a project a node's configuration does not
// have as an import project.
var ErrUnknownProject = errors.New("not an import project of this configuration")

// Observer hears of the jobs that end.
type Observer interface {
	JobEnded(project, status string, c jobhistory.JobCounts, took time.Duration)
}

// Stages runs the steps of import jobs. Every method is safe to run again after a crash
// at any point (see the package documentation) and safe for concurrent use.
type Stages struct {
	d    Deps
	base *jobstep.Base // the timeline, the poll schedule, admission: shared with exports

	mu      sync.Mutex
	gates   map[string]chan struct{} // by environment/definition group, see withGroupLock
	checked map[string]time.Time     // when each environment last passed checkEnvironment
}

// New returns the stages over d.
func New(d Deps) *Stages {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Watcher == nil {
		d.Watcher = ingest.NewWatcher(jobhistory.NewSightings(d.DB))
	}
	if d.NodeFresh <= 0 {
		d.NodeFresh = 2 * time.Minute
	}
	base := jobstep.New(jobstep.Config{DB: d.DB, Environments: d.Environments, Node: d.Node, Foreground: d.Foreground,
		NodeFresh: d.NodeFresh, Log: d.Log, Now: d.Now})
	return &Stages{d: d, base: base, gates: map[string]chan struct{}{}, checked: map[string]time.Time{}}
}

// The runner's outcomes, shared with the export stages (worker's adapter reads them).
type (
	// Attempt is which run of a step this is.
	Attempt = jobstep.Attempt
	// SnoozeError asks the runner to run the step again after a while, without counting
	// a failure: the step waits (for F&O, for a file to settle, for a node that knows
	// the project).
	SnoozeError = jobstep.SnoozeError
	// PermanentError is a failure that running the step again cannot cure; the runner
	// drops the step (River cancels it). What it means for the job is already recorded.
	PermanentError = jobstep.PermanentError
)

func snooze(d time.Duration) error { return jobstep.Snooze(d) }

func permanent(err error) error { return jobstep.Permanent(err) }

// hist is the job history on db, recording this node as the actor of events.
func (s *Stages) hist(db jobhistory.DBTX) *jobhistory.Store { return s.base.Hist(db) }

// staging is the staging area on db.
func (s *Stages) staging(db staging.DBTX) *staging.Store { return staging.NewStore(db) }

// event records an entry of a job's timeline; a failure to record it is logged, not
// returned: the timeline must not fail an import.
func (s *Stages) event(ctx context.Context, job int64, stage StepKind, level, msg string, attrs map[string]any) {
	s.base.Event(ctx, job, string(stage), level, msg, attrs)
}

// job reads the job a step works on; a job that no longer exists drops the step.
func (s *Stages) job(ctx context.Context, id int64) (*jobhistory.Job, error) {
	return s.base.Job(ctx, id)
}

// admit returns the project a job's step runs with, or leaves the step for another node
// (jobstep.Base.Admit), saying so on the job's timeline.
//
// A project this node knows that does not compile (its settings are wrong) is an error
// that retrying will cure only once they are fixed: the step fails with it.
func (s *Stages) admit(ctx context.Context, j *jobhistory.Job, step StepKind) (*Project, error) {
	p, err := s.d.Projects(j.Project)
	if err != nil && !errors.Is(err, ErrUnknownProject) {
		return nil, fmt.Errorf("project %s: %w", j.Project, err)
	}
	version := ""
	if err == nil {
		version = p.Version
	}
	if err := s.base.Admit(ctx, j, string(step), "project", version); err != nil {
		return nil, err
	}
	return p, nil
}
