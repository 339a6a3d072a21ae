package jobhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrJobNotFound is returned (wrapped) for a job id that does not exist.
var ErrJobNotFound = errors.New("job not found")

// The statuses of a job (jobs.status).
const (
	JobQueued             = "queued"
	JobRunning            = "running"
	JobSucceeded          = "succeeded"
	JobPartiallySucceeded = "partially_succeeded"
	JobFailed             = "failed"
	JobCanceled           = "canceled"
	JobSkipped            = "skipped"
)

// JobStatuses returns every job status, in the order a job can reach them.
func JobStatuses() []string {
	return []string{JobQueued, JobRunning, JobSucceeded, JobPartiallySucceeded, JobFailed, JobCanceled, JobSkipped}
}

// JobTerminal reports whether a job status is final.
func JobTerminal(status string) bool {
	switch status {
	case JobSucceeded, JobPartiallySucceeded, JobFailed, JobCanceled, JobSkipped:
		return true
	}
	return false
}

// JobCounts are a job's rows at each stage.
type JobCounts struct {
	Read     int64 `json:"read"`
	Staged   int64 `json:"staged"`
	Invalid  int64 `json:"invalid"`
	Uploaded int64 `json:"uploaded"`
	Imported int64 `json:"imported"`
	Rejected int64 `json:"rejected"`
	// NotImported are valid rows whose chunk ended without F&O importing them (F&O did
	// not reject them: they are not among Rejected).
	NotImported int64 `json:"not_imported,omitempty"`
	// Skipped are rows an operator set aside: they are never sent (again).
	Skipped int64 `json:"skipped,omitempty"`
}

// Job is one row of the jobs table.
type Job struct {
	ID      int64
	Project string
	Kind    string
	Trigger string
	// ScheduledFor is the cron tick of a scheduled job; zero otherwise.
	ScheduledFor time.Time
	Status       string
	Stage        string
	// SourceFileID is the ledger entry of the job's file; 0 when none.
	SourceFileID int64
	Environment  string
	LegalEntity  string
	Counts       JobCounts
	ChunksTotal  int
	// Error says why the job failed or was skipped; empty otherwise.
	Error string
	// ProjectVersion is the fingerprint of the project's configuration the job runs with.
	ProjectVersion string
	// ExecutionNonce is the job's part of its DMF execution ids; empty for jobs recorded
	// before there was one.
	ExecutionNonce string
	// DryRun is true for a job that only stages and validates.
	DryRun bool
	// Foreground is true for a job of a foreground `pipeline run`, which works its steps.
	Foreground bool
	// Attempt is the job's current attempt: 1, then one more each time operators send
	// its rows again (see StartAttempt).
	Attempt    int
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// NewJob is what CreateJob records.
type NewJob struct {
	Project string
	// Kind is "import" or "export".
	Kind         string
	Trigger      string
	ScheduledFor time.Time
	SourceFileID int64
	Environment  string
	LegalEntity  string
	// ProjectVersion is the fingerprint of the project's configuration.
	ProjectVersion string
	// DryRun marks a job that only stages and validates.
	DryRun bool
	// Foreground marks a job of a foreground `pipeline run`.
	Foreground bool
}

// Store reads and writes jobs, chunks, DMF executions and job events.
type Store struct {
	db    DBTX
	actor string
}

// NewStore returns the job history in db (a pool, a connection or a transaction).
func NewStore(db DBTX) *Store { return &Store{db: db} }

// As returns a Store on the same database whose events name actor as who recorded them:
// a node's ID for the stages it runs, a user for an operator's actions.
func (s *Store) As(actor string) *Store { return &Store{db: s.db, actor: actor} }

func nullInt(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

// CreateJob records a queued job and returns its id.
func (s *Store) CreateJob(ctx context.Context, j NewJob) (int64, error) {
	kind := j.Kind
	if kind == "" {
		kind = "import"
	}
	var id int64
	err := s.db.QueryRow(ctx, `
		INSERT INTO jobs (project, kind, trigger, scheduled_for, source_file_id, environment, legal_entity,
		                  project_version, dry_run, foreground)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		j.Project, kind, j.Trigger, nullTime(j.ScheduledFor), nullInt(j.SourceFileID),
		nullString(j.Environment), nullString(j.LegalEntity), j.ProjectVersion, j.DryRun, j.Foreground).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording a job of project %s: %w", j.Project, err)
	}
	return id, nil
}

// TickTaken reports whether project already has a job for the cron tick at.
func (s *Store) TickTaken(ctx context.Context, project string, at time.Time) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE project = $1 AND scheduled_for = $2)`,
		project, at).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("looking up the jobs of project %s at %s: %w", project, at, err)
	}
	return ok, nil
}

// Job returns one job.
func (s *Store) Job(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(s.db.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("job %d: %w", id, ErrJobNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading job %d: %w", id, err)
	}
	return &j, nil
}

// jobColumns are what scanJob reads, qualified so that they can be joined.
const jobColumns = `jobs.id, jobs.project, jobs.kind, jobs.trigger, jobs.scheduled_for, jobs.status, jobs.stage,
	jobs.source_file_id, jobs.environment, jobs.legal_entity, jobs.rows_read, jobs.rows_staged, jobs.rows_invalid,
	jobs.rows_uploaded, jobs.rows_imported, jobs.rows_rejected, jobs.rows_not_imported, jobs.rows_skipped, jobs.chunks_total, jobs.error, jobs.project_version,
	jobs.execution_nonce, jobs.dry_run, jobs.foreground, jobs.attempt, jobs.created_at, jobs.started_at, jobs.finished_at`

// scanJob reads the jobColumns of row, then any extra columns selected after them.
func scanJob(row pgx.Row, extra ...any) (Job, error) {
	var (
		j                                Job
		scheduled, started, finished     *time.Time
		fileID                           *int64
		environment, legalEntity, jobErr *string
	)
	err := row.Scan(append([]any{
		&j.ID, &j.Project, &j.Kind, &j.Trigger, &scheduled, &j.Status, &j.Stage, &fileID, &environment,
		&legalEntity, &j.Counts.Read, &j.Counts.Staged, &j.Counts.Invalid, &j.Counts.Uploaded, &j.Counts.Imported,
		&j.Counts.Rejected, &j.Counts.NotImported, &j.Counts.Skipped, &j.ChunksTotal, &jobErr, &j.ProjectVersion, &j.ExecutionNonce, &j.DryRun, &j.Foreground,
		&j.Attempt, &j.CreatedAt,
		&started, &finished}, extra...)...)
	if err != nil {
		return j, err
	}
	for _, p := range []struct {
		dst *time.Time
		src *time.Time
	}{{&j.ScheduledFor, scheduled}, {&j.StartedAt, started}, {&j.FinishedAt, finished}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	for _, p := range []struct {
		dst *string
		src *string
	}{{&j.Environment, environment}, {&j.LegalEntity, legalEntity}, {&j.Error, jobErr}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	if fileID != nil {
		j.SourceFileID = *fileID
	}
	return j, nil
}

// exec runs a statement that must change exactly the job's row.
func (s *Store) exec(ctx context.Context, id int64, what, sql string, args ...any) error {
	tag, err := s.db.Exec(ctx, sql, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("%s of job %d: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s of job %d: %w", what, id, ErrJobNotFound)
	}
	return nil
}

// SetStage marks a job running in stage (its start time is kept from the first call).
func (s *Store) SetStage(ctx context.Context, id int64, stage string) error {
	return s.exec(ctx, id, "setting the stage", `
		UPDATE jobs SET status = 'running', stage = $2, started_at = coalesce(started_at, now()), updated_at = now()
		WHERE id = $1 AND status IN ('queued', 'running')`, stage)
}

// SetStaged records the counts of the ingest stage.
func (s *Store) SetStaged(ctx context.Context, id int64, read, staged, invalid int64) error {
	return s.exec(ctx, id, "recording the staged counts", `
		UPDATE jobs SET rows_read = $2, rows_staged = $3, rows_invalid = $4, updated_at = now() WHERE id = $1`,
		read, staged, invalid)
}

// SetRead records how many records a running ingest has read so far, for progress.
func (s *Store) SetRead(ctx context.Context, id int64, read int64) error {
	return s.exec(ctx, id, "recording the ingest progress", `
		UPDATE jobs SET rows_read = $2, updated_at = now() WHERE id = $1`, read)
}

// SetChunksTotal records how many chunks a job's valid rows were cut into.
func (s *Store) SetChunksTotal(ctx context.Context, id int64, n int) error {
	return s.exec(ctx, id, "recording the chunks", `UPDATE jobs SET chunks_total = $2, updated_at = now() WHERE id = $1`, n)
}

// SetError records why a job failed (or was skipped) without ending it.
func (s *Store) SetError(ctx context.Context, id int64, msg string) error {
	return s.exec(ctx, id, "recording the error", `UPDATE jobs SET error = $2, updated_at = now() WHERE id = $1`, msg)
}

// Finish ends a job with status and its final counts. msg is its error ("" keeps the one
// recorded). Finishing an ended job again is allowed and changes nothing but the counts.
func (s *Store) Finish(ctx context.Context, id int64, status string, c JobCounts, msg string) error {
	return s.FinishIn(ctx, id, "finalize", status, c, msg)
}

// FinishIn is Finish for a job that ends in stage rather than in the finalize (a dry run
// ends in the decide stage).
func (s *Store) FinishIn(ctx context.Context, id int64, stage, status string, c JobCounts, msg string) error {
	if !JobTerminal(status) {
		return fmt.Errorf("finishing job %d: %q is not a final status", id, status)
	}
	return s.exec(ctx, id, "finishing", `
		UPDATE jobs SET status = $2, stage = $11, rows_read = $3, rows_staged = $4, rows_invalid = $5,
		       rows_uploaded = $6, rows_imported = $7, rows_rejected = $8, rows_not_imported = $10, rows_skipped = $12, error = coalesce($9, error),
		       started_at = coalesce(started_at, now()), finished_at = coalesce(finished_at, now()), updated_at = now()
		WHERE id = $1`,
		status, c.Read, c.Staged, c.Invalid, c.Uploaded, c.Imported, c.Rejected, nullString(msg), c.NotImported, stage, c.Skipped)
}

// Event is one entry of a job's timeline.
type Event struct {
	// ID orders a job's events (see EventsSince).
	ID      int64
	At      time.Time
	Stage   string
	Level   string
	Message string
	Attrs   map[string]any
	// Actor is who recorded it (see Store.As): a node's ID or a user; empty when unknown.
	Actor string
}

// AddEvent appends an entry to a job's timeline; level is debug, info, warn or error.
func (s *Store) AddEvent(ctx context.Context, job int64, stage, level, msg string, attrs map[string]any) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO job_events (job_id, stage, level, message, attrs, actor) VALUES ($1, $2, $3, $4, $5, $6)`,
		job, stage, level, msg, attrs, s.actor); err != nil {
		return fmt.Errorf("recording an event of job %d: %w", job, err)
	}
	return nil
}

// Events returns a job's timeline, oldest first.
func (s *Store) Events(ctx context.Context, job int64) ([]Event, error) {
	return s.EventsSince(ctx, job, 0)
}

// EventsSince returns the events of a job recorded after the one with id after, oldest
// first: what a follower of a running job has not seen yet.
func (s *Store) EventsSince(ctx context.Context, job, after int64) ([]Event, error) {
	rows, err := s.db.Query(ctx, `SELECT id, at, stage, level, message, attrs, actor FROM job_events
		WHERE job_id = $1 AND id > $2 ORDER BY at, id`, job, after)
	if err != nil {
		return nil, fmt.Errorf("reading the events of job %d: %w", job, err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.At, &e.Stage, &e.Level, &e.Message, &e.Attrs, &e.Actor)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the events of job %d: %w", job, err)
	}
	return events, nil
}

// SetProjectVersion records the project version a job goes on with (a node that knows
// the project only at another version adopted the job).
func (s *Store) SetProjectVersion(ctx context.Context, id int64, version string) error {
	return s.exec(ctx, id, "recording the project version", `UPDATE jobs SET project_version = $2, updated_at = now() WHERE id = $1`, version)
}

// UnfinishedJobs returns the ids of the jobs of kind that have not ended, oldest first,
// of foreground runs or not: of project, or of every project for "".
func (s *Store) UnfinishedJobs(ctx context.Context, kind, project string, foreground bool) ([]int64, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM jobs
		WHERE kind = $1 AND ($2 = '' OR project = $2) AND foreground = $3 AND status IN ('queued', 'running')
		ORDER BY id`, kind, project, foreground)
	if err != nil {
		return nil, fmt.Errorf("finding unfinished jobs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("finding unfinished jobs: %w", err)
	}
	return ids, nil
}

// CountJobs returns the number of jobs in each status.
func (s *Store) CountJobs(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.Query(ctx, `SELECT status, count(*) FROM jobs GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("counting jobs: %w", err)
	}
	out := map[string]int64{}
	var (
		status string
		n      int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&status, &n}, func() error { out[status] = n; return nil }); err != nil {
		return nil, fmt.Errorf("counting jobs: %w", err)
	}
	return out, nil
}

// LastSuccesses returns when each project's latest job that succeeded ended, by
// project: what an alert on "no successful import for 26 hours" reads.
func (s *Store) LastSuccesses(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.db.Query(ctx, `SELECT project, max(finished_at) FROM jobs
		WHERE status = 'succeeded' AND NOT dry_run GROUP BY project`)
	if err != nil {
		return nil, fmt.Errorf("reading the projects' last successes: %w", err)
	}
	out := map[string]time.Time{}
	var (
		project string
		at      time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&project, &at}, func() error { out[project] = at; return nil }); err != nil {
		return nil, fmt.Errorf("reading the projects' last successes: %w", err)
	}
	return out, nil
}
