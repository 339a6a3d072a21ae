package exports

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
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/backoff"
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
	d Deps

	mu   sync.Mutex
	told map[string]bool
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
	return &Stages{d: d, told: map[string]bool{}}
}

// The runner's outcomes, shared with the import stages (worker's adapter reads them).
func snooze(d time.Duration) error { return &imports.SnoozeError{After: max(d, 10*time.Millisecond)} }

func permanent(err error) error { return &imports.PermanentError{Err: err} }

func (s *Stages) hist(db jobhistory.DBTX) *jobhistory.Store {
	return jobhistory.NewStore(db).As(s.d.Node)
}

// event records an entry of a job's timeline; a failure to record it is logged.
func (s *Stages) event(ctx context.Context, job int64, stage StepKind, level, msg string, attrs map[string]any) {
	if err := s.hist(s.d.DB).AddEvent(ctx, job, string(stage), level, msg, attrs); err != nil {
		s.d.Log.Warn("recording a job event", "job", job, "err", err)
	}
}

// job reads the job a step works on; a job that no longer exists drops the step.
func (s *Stages) job(ctx context.Context, id int64) (*jobhistory.Job, error) {
	j, err := s.hist(s.d.DB).Job(ctx, id)
	if errors.Is(err, jobhistory.ErrJobNotFound) {
		return nil, permanent(err)
	}
	return j, err
}

// pollSettings are an environment's poll settings.
func (s *Stages) pollSettings(env string) config.Poll {
	if e, ok := s.d.Environments[env]; ok {
		return e.Poll
	}
	return config.Poll{Initial: config.Duration(config.DefaultPollInitial), Max: config.Duration(config.DefaultPollMax),
		Deadline: config.Duration(config.DefaultPollDeadline)}
}

// pollInterval is the wait after the n-th poll of an execution of env.
func (s *Stages) pollInterval(env string, n int) time.Duration {
	ps := s.pollSettings(env)
	return backoff.Policy{Initial: ps.Initial.D(), Max: ps.Max.D(), Multiplier: 1.5}.Delay(n)
}

// pollWait is how long the next call about ex must still wait to keep to its schedule,
// across steps and restarts.
func (s *Stages) pollWait(ex jobhistory.Execution) time.Duration {
	if ex.LastPolledAt.IsZero() || ex.Polls == 0 {
		return 0
	}
	return s.pollInterval(ex.Environment, ex.Polls) - s.d.Now().Sub(ex.LastPolledAt)
}

// How long a step left for another node waits before it is offered again, and how long
// one waits when no node knows its project (as the import stages).
const (
	leaveFor       = 500 * time.Millisecond
	waitForProject = 30 * time.Second
)

// admit returns the project a job's step runs with, or leaves the step for another node,
// on the import stages' rules: this node runs a job of a project it knows at the job's
// version; a version another live node knows waits for that node; a version no live node
// knows is adopted (and said so on the timeline); a project no node knows waits.
func (s *Stages) admit(ctx context.Context, j *jobhistory.Job, step StepKind) (*Project, error) {
	p, err := s.d.Projects(j.Project)
	if err != nil && !errors.Is(err, ErrUnknownProject) {
		return nil, fmt.Errorf("project %s: %w", j.Project, err)
	}
	known := err == nil
	if known && (p.Version == j.ProjectVersion || j.ProjectVersion == "") {
		return p, nil
	}
	hist := s.hist(s.d.DB)
	var others []string
	if j.ProjectVersion != "" {
		if others, err = hist.NodesKnowing(ctx, j.Project, j.ProjectVersion, s.d.Node, s.d.Foreground, s.d.NodeFresh); err != nil {
			return nil, err
		}
	}
	switch {
	case len(others) > 0:
		s.tellOnce(ctx, j, step, "info", fmt.Sprintf("%s left for node %s, which knows project %s as this job started it", step, others[0], j.Project))
		return nil, snooze(leaveFor)
	case known:
		if err := hist.SetProjectVersion(ctx, j.ID, p.Version); err != nil {
			return nil, err
		}
		s.event(ctx, j.ID, step, "warn", fmt.Sprintf("project %s changed since this job started (version %s, now %s) and no running node has the old settings: going on with the new ones",
			j.Project, j.ProjectVersion, p.Version), nil)
		j.ProjectVersion = p.Version
		return p, nil
	}
	s.tellOnce(ctx, j, step, "warn", fmt.Sprintf("no running node knows export project %s: %s waits for a node whose configuration has it", j.Project, step))
	return nil, snooze(waitForProject)
}

func (s *Stages) tellOnce(ctx context.Context, j *jobhistory.Job, step StepKind, level, msg string) {
	key := fmt.Sprintf("%d/%s/%s", j.ID, step, msg)
	s.mu.Lock()
	told := s.told[key]
	s.told[key] = true
	s.mu.Unlock()
	if !told {
		s.event(ctx, j.ID, step, level, msg, nil)
	}
}

// FailJob records why a job failed and hands it to the finalize; the step that failed it
// is dropped.
func (s *Stages) FailJob(ctx context.Context, j *jobhistory.Job, stage StepKind, cause error) error {
	err := pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		if err := hist.SetError(ctx, j.ID, cause.Error()); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, j.ID, string(stage), "error", cause.Error(), nil); err != nil {
			return err
		}
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepFinalize, Job: j})
	})
	if err != nil {
		return fmt.Errorf("failing job %d (%w): %w", j.ID, cause, err)
	}
	return permanent(cause)
}

// retryOrFail fails the job for an answer retrying cannot change (a 4xx other than 408
// and 429) and on the step's last attempt, and retries the others.
func (s *Stages) retryOrFail(ctx context.Context, at imports.Attempt, j *jobhistory.Job, stage StepKind, err error) error {
	var he *dmf.HTTPError
	if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 && he.StatusCode != 408 && he.StatusCode != 429 {
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
