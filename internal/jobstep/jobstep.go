// Package jobstep holds what the import and the export stages share about running a
// step of a job: the runner's outcomes (snooze, drop), the job's timeline, which node
// runs a step, an environment's poll schedule, and failing a job. It knows job history
// only; each stage package keeps its own step kinds and says things in its own words.
package jobstep

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
	"github.com/dmfpipe/dmfpipe/internal/backoff"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
)

// Attempt is which run of a step this is.
type Attempt struct {
	// N is the run, from 1; Max the last one the runner allows.
	N, Max int
}

// Last reports whether no run follows this one when it fails.
func (a Attempt) Last() bool { return a.N >= a.Max }

// SnoozeError asks the runner to run the step again after a while, without counting a
// failure: the step waits (for F&O, for a file to settle, for a node that knows the
// project).
type SnoozeError struct {
	After time.Duration
}

func (e *SnoozeError) Error() string { return fmt.Sprintf("waiting %s", e.After) }

// Snooze asks the runner to run the step again after d (at least 10ms).
func Snooze(d time.Duration) error { return &SnoozeError{After: max(d, 10*time.Millisecond)} }

// PermanentError is a failure that running the step again cannot cure; the runner drops
// the step (River cancels it). What it means for the job is already recorded.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent asks the runner to drop the step, failed with err.
func Permanent(err error) error { return &PermanentError{Err: err} }

// Refused reports whether err is an answer of F&O that retrying cannot change: a 4xx
// other than 408 (Request Timeout) and 429 (Too Many Requests).
func Refused(err error) bool {
	var he *dmf.HTTPError
	return errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 && he.StatusCode != 408 && he.StatusCode != 429
}

// StatusSeen is what a status call answered, for the execution's record.
func StatusSeen(st dmf.ExecutionStatus, err error) string {
	switch {
	case err == nil:
		return string(st)
	case dmf.IsExecutionNotFound(err):
		return "NotFound"
	}
	return ""
}

// Config is what a Base works with; the stage packages fill it from their Deps, with
// their defaults applied.
type Config struct {
	// DB is the database of job history.
	DB *pgxpool.Pool
	// Environments are the configured F&O environments (their poll schedules).
	Environments map[string]*config.Environment
	// Node is this node's ID: events name it.
	Node string
	// Foreground is true for a foreground command, which works its own jobs.
	Foreground bool
	// NodeFresh is how recently a node must have been seen to count as live.
	NodeFresh time.Duration
	// Log receives what is logged rather than recorded.
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time
}

// Base is the job history side of a node's stages. It is safe for concurrent use.
type Base struct {
	c Config

	mu   sync.Mutex
	told map[string]bool // events TellOnce recorded
}

// New returns a Base over c.
func New(c Config) *Base { return &Base{c: c, told: map[string]bool{}} }

// Hist is the job history on db, recording this node as the actor of events.
func (b *Base) Hist(db jobhistory.DBTX) *jobhistory.Store {
	return jobhistory.NewStore(db).As(b.c.Node)
}

// Event records an entry of a job's timeline; a failure to record it is logged, not
// returned: the timeline must not fail a job.
func (b *Base) Event(ctx context.Context, job int64, stage, level, msg string, attrs map[string]any) {
	if err := b.Hist(b.c.DB).AddEvent(ctx, job, stage, level, msg, attrs); err != nil {
		b.c.Log.Warn("recording a job event", "job", job, "err", err)
	}
}

// TellOnce records an event the first time this node says it about a job's step.
func (b *Base) TellOnce(ctx context.Context, job int64, stage, level, msg string) {
	key := fmt.Sprintf("%d/%s/%s", job, stage, msg)
	b.mu.Lock()
	told := b.told[key]
	b.told[key] = true
	b.mu.Unlock()
	if !told {
		b.Event(ctx, job, stage, level, msg, nil)
	}
}

// Job reads the job a step works on; a job that no longer exists drops the step.
func (b *Base) Job(ctx context.Context, id int64) (*jobhistory.Job, error) {
	j, err := b.Hist(b.c.DB).Job(ctx, id)
	if errors.Is(err, jobhistory.ErrJobNotFound) {
		return nil, Permanent(err)
	}
	return j, err
}

// PollSettings are an environment's poll settings; an environment not configured has
// the defaults.
func (b *Base) PollSettings(env string) config.Poll {
	if e, ok := b.c.Environments[env]; ok {
		return e.Poll
	}
	return config.Poll{Initial: config.Duration(config.DefaultPollInitial), Max: config.Duration(config.DefaultPollMax),
		Deadline: config.Duration(config.DefaultPollDeadline)}
}

// PollInterval is the wait after the n-th status call of an execution of env: the poll
// schedule's initial interval, growing 1.5× up to its max.
func (b *Base) PollInterval(env string, n int) time.Duration {
	ps := b.PollSettings(env)
	return backoff.Policy{Initial: ps.Initial.D(), Max: ps.Max.D(), Multiplier: 1.5}.Delay(n)
}

// PollWait is how long a status call of ex must still wait to keep to its poll schedule,
// whichever stage made the last one and whether or not the process restarted since.
func (b *Base) PollWait(ex jobhistory.Execution) time.Duration {
	if ex.LastPolledAt.IsZero() || ex.Polls == 0 {
		return 0
	}
	return b.PollInterval(ex.Environment, ex.Polls) - b.c.Now().Sub(ex.LastPolledAt)
}

// Admission is which node runs a job's step (see Base.Admit).
type Admission struct {
	// Run is true when this node runs the step.
	Run bool
	// AdoptedFrom is the job's version of its project when this node took the job over
	// at its own version (recorded, and set on the job); empty otherwise.
	AdoptedFrom string
	// LeftFor is a live node that knows the project at the job's version, when the step
	// waits for it.
	LeftFor string
}

// Admit decides which node runs a step of j, given version, this node's version of the
// job's project (empty when this node does not know the project):
//
//   - this node knows the project at the job's version: it runs the step;
//   - another live node knows that version: the step waits for that node (a node never
//     fails a job it cannot run; in a rolling deploy the new version reaches the nodes one
//     after another);
//   - no live node knows that version but this node knows the project: it adopts the job
//     at its own version (the project's settings changed while the job ran, and no node is
//     left with the old ones);
//   - no node knows the project: the step waits for one that does.
//
// What the stage says about it on the timeline is left to the stage.
func (b *Base) Admit(ctx context.Context, j *jobhistory.Job, version string) (Admission, error) {
	known := version != ""
	if known && (version == j.ProjectVersion || j.ProjectVersion == "") {
		return Admission{Run: true}, nil
	}
	hist := b.Hist(b.c.DB)
	if j.ProjectVersion != "" {
		others, err := hist.NodesKnowing(ctx, j.Project, j.ProjectVersion, b.c.Node, b.c.Foreground, b.c.NodeFresh)
		if err != nil {
			return Admission{}, err
		}
		if len(others) > 0 {
			return Admission{LeftFor: others[0]}, nil
		}
	}
	if !known {
		return Admission{}, nil
	}
	if err := hist.SetProjectVersion(ctx, j.ID, version); err != nil {
		return Admission{}, err
	}
	from := j.ProjectVersion
	j.ProjectVersion = version
	return Admission{Run: true, AdoptedFrom: from}, nil
}

// FailJob records why a job failed and, in the same transaction, inserts its finalize
// (finalize inserts it); it returns the error that drops the failing step.
func (b *Base) FailJob(ctx context.Context, job int64, stage string, cause error, finalize func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, b.c.DB, func(tx pgx.Tx) error {
		hist := b.Hist(tx)
		if err := hist.SetError(ctx, job, cause.Error()); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, job, stage, "error", cause.Error(), nil); err != nil {
			return err
		}
		return finalize(tx)
	})
	if err != nil {
		return fmt.Errorf("failing job %d (%w): %w", job, cause, err)
	}
	return Permanent(cause)
}

// NotificationSent is the event of a sent notification.
const NotificationSent = "notification sent"

// Notify sends with n a finished job's notification, which message returns: a job no
// longer there, no notifier, or a refusal that retrying cannot cure drops the step;
// others are returned for the runner to retry, each recorded on the job's timeline
// under stage, as is the notification sent.
func (b *Base) Notify(ctx context.Context, n notify.Sender, at Attempt, stage string, message func() (notify.Job, error)) error {
	if n == nil {
		return Permanent(errors.New("no notifier configured"))
	}
	msg, err := message()
	if errors.Is(err, jobhistory.ErrJobNotFound) {
		return Permanent(err)
	}
	if err != nil {
		return err
	}
	if err := n.Send(ctx, msg); err != nil {
		b.Event(ctx, msg.ID, stage, "warn", "notification not sent: "+err.Error(), map[string]any{"attempt": at.N})
		if notify.IsPermanent(err) {
			return Permanent(err)
		}
		return err
	}
	b.Event(ctx, msg.ID, stage, "info", NotificationSent, nil)
	return nil
}
