package exports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
)

// StepKind names a step of an export job.
type StepKind string

// The steps of an export job. A package export goes request → poll → deliver →
// finalize; a recurring export dequeue → deliver (one message) → dequeue ... until F&O
// has no message left, then finalize. Notify follows when the project asks for it.
const (
	StepRequest  StepKind = "export_request"
	StepPoll     StepKind = "export_poll"
	StepDeliver  StepKind = "export_deliver"
	StepDequeue  StepKind = "dequeue"
	StepFinalize StepKind = "export_finalize"
	StepNotify   StepKind = "export_notify"
)

// Step is a step of an export job for a runner (River) to run.
type Step struct {
	Kind StepKind
	// Job is the job the step works on; the runner routes the step by it (a foreground
	// export's job is worked by that export).
	Job *jobhistory.Job
	// Unit is the package a deliver works on: a package export's execution id, a
	// recurring message's CorrelationId.
	Unit string
	// Seq numbers the dequeues of a recurring export's job, from 1.
	Seq int
}

// Steps is the runner of the steps (package worker, on River).
type Steps interface {
	// Insert inserts steps in the transaction that records what leads to them; a step
	// already waiting or running is not inserted again.
	Insert(ctx context.Context, tx pgx.Tx, steps ...Step) error
	// Offer inserts a step on its own and reports whether it was missing.
	Offer(ctx context.Context, step Step) (inserted bool, err error)
	// Hurry makes the waiting steps (retries, snoozed polls) of jobs runnable now.
	Hurry(ctx context.Context, jobs []int64) error
	// Name is the runner's name of a kind of step, for messages.
	Name(kind StepKind) string
}

// Deps are what the export stages work with.
type Deps struct {
	// DB is the database: job history and River. Required.
	DB *pgxpool.Pool
	// Projects returns a compiled export project: an error wrapping ErrUnknownProject
	// when this node does not know it, config.Problems when it does not compile. Required.
	Projects func(name string) (*Project, error)
	// Environments are the configured F&O environments (their poll schedules).
	Environments map[string]*config.Environment
	// DMF returns the client of an F&O environment. Required.
	DMF func(env string) (*dmf.Client, error)
	// Destination opens a connection to write to. Required.
	Destination func(ctx context.Context, connection string) (ingest.Destination, error)
	// Notifier sends the notifications of projects that ask for them; nil sends none.
	Notifier notify.Sender
	// ConsoleURL is the console's public URL, for links in notifications.
	ConsoleURL string
	// Steps runs the next steps. Required.
	Steps Steps
	// Node is this node's ID: events name it.
	Node string
	// Foreground is true for a foreground `pipeline export`, which works its own jobs.
	Foreground bool
	// NodeFresh is how recently a node must have been seen to count as live when a step is
	// left to it. Defaults to 2 minutes.
	NodeFresh time.Duration
	// Metrics counts what the stages write; nil counts nothing.
	Metrics *Metrics
	// TempDir holds downloaded packages while they are written out. Defaults to
	// os.TempDir().
	TempDir string
	// Log receives the stages' logs. Defaults to discarding.
	Log *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Stages runs the steps of export jobs. Every method is safe to run again after a crash
// at any point and safe for concurrent use.
type Stages struct {
	d    Deps
	base *jobstep.Base // the timeline, the poll schedule, admission: shared with imports
}

// New returns the stages over d.
func New(d Deps) *Stages {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.NodeFresh <= 0 {
		d.NodeFresh = 2 * time.Minute
	}
	return &Stages{d: d, base: jobstep.New(jobstep.Config{DB: d.DB, Environments: d.Environments, Node: d.Node,
		Foreground: d.Foreground, NodeFresh: d.NodeFresh, Log: d.Log, Now: d.Now})}
}

// The runner's outcomes, shared with the import stages (worker's adapter reads them).
func snooze(d time.Duration) error { return jobstep.Snooze(d) }

func permanent(err error) error { return jobstep.Permanent(err) }

func (s *Stages) hist(db jobhistory.DBTX) *jobhistory.Store { return s.base.Hist(db) }

// event records an entry of a job's timeline; a failure to record it is logged.
func (s *Stages) event(ctx context.Context, job int64, stage StepKind, level, msg string, attrs map[string]any) {
	s.base.Event(ctx, job, string(stage), level, msg, attrs)
}

// job reads the job a step works on; a job that no longer exists drops the step.
func (s *Stages) job(ctx context.Context, id int64) (*jobhistory.Job, error) {
	return s.base.Job(ctx, id)
}

// pollSettings are an environment's poll settings.
func (s *Stages) pollSettings(env string) config.Poll { return s.base.PollSettings(env) }

// pollInterval is the wait after the n-th poll of an execution of env.
func (s *Stages) pollInterval(env string, n int) time.Duration { return s.base.PollInterval(env, n) }

// pollWait is how long the next call about ex must still wait to keep to its schedule,
// across steps and restarts.
func (s *Stages) pollWait(ex jobhistory.Execution) time.Duration { return s.base.PollWait(ex) }

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
	if err := s.base.Admit(ctx, j, string(step), "export project", version); err != nil {
		return nil, err
	}
	return p, nil
}

// FailJob records why a job failed and hands it to the finalize; the step that failed it
// is dropped.
func (s *Stages) FailJob(ctx context.Context, j *jobhistory.Job, stage StepKind, cause error) error {
	return s.base.FailJob(ctx, j.ID, string(stage), cause, func(tx pgx.Tx) error {
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepFinalize, Job: j})
	})
}

// retryOrFail fails the job for an answer retrying cannot change (jobstep.Refused) and on
// the step's last attempt, and retries the others.
func (s *Stages) retryOrFail(ctx context.Context, at imports.Attempt, j *jobhistory.Job, stage StepKind, err error) error {
	if jobstep.Refused(err) {
		return s.FailJob(ctx, j, stage, err)
	}
	if at.Last() {
		return s.FailJob(ctx, j, stage, fmt.Errorf("giving up after %d attempts: %w", at.N, err))
	}
	return err
}

// next records the job's next stage and inserts its step, in one transaction, with an
// event saying msg (none when it is empty).
func (s *Stages) next(ctx context.Context, j *jobhistory.Job, stage string, step Step, msg string, attrs map[string]any) error {
	return pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		if err := hist.SetStage(ctx, j.ID, stage); err != nil {
			return err
		}
		if msg != "" {
			if err := hist.AddEvent(ctx, j.ID, stage, "info", msg, attrs); err != nil {
				return err
			}
		}
		return s.d.Steps.Insert(ctx, tx, step)
	})
}
