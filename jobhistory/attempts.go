package jobhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Attempts: a job whose rows operators fixed (or whose rows F&O never judged) is sent to
// F&O again as a new attempt of the same job: new chunks numbered after its others,
// through the same upload and poll stages; the job runs again and ends once more. The
// first attempt is the job's own run; each later one has a row in job_attempts.

// The triggers of a job's later attempts.
const (
	// AttemptResubmit sends the rows operators fixed.
	AttemptResubmit = "resubmit"
	// AttemptRetry sends the rows F&O gave no verdict on (their chunk failed).
	AttemptRetry = "retry"
)

// Attempt is a later attempt of a job.
type Attempt struct {
	Job int64 `json:"job"`
	No  int   `json:"attempt"`
	// Trigger is AttemptResubmit or AttemptRetry.
	Trigger string `json:"trigger"`
	// Actor is who started it.
	Actor string `json:"actor"`
	// FirstChunk and Chunks are the chunks it added: FirstChunk to FirstChunk+Chunks-1.
	FirstChunk int       `json:"first_chunk"`
	Chunks     int       `json:"chunks"`
	Rows       int64     `json:"rows"`
	At         time.Time `json:"at"`
}

// LockJob returns a job and locks its row until the transaction ends: an action that
// decides from the job's status (send it again, cancel it) holds it while it acts.
func (s *Store) LockJob(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(s.db.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("job %d: %w", id, ErrJobNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading job %d: %w", id, err)
	}
	return &j, nil
}

// NextChunk returns the number the next chunk of a job gets: one more than its last.
func (s *Store) NextChunk(ctx context.Context, job int64) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT coalesce(max(chunk_no), 0) + 1 FROM chunks WHERE job_id = $1`, job).Scan(&n); err != nil {
		return 0, fmt.Errorf("numbering the chunks of job %d: %w", job, err)
	}
	return n, nil
}

// StartAttempt records a later attempt of an ended job, which its caller has locked
// (LockJob) and whose chunks it has inserted (InsertChunks), and runs the job again: status
// running in stage upload, its error and end cleared (the timeline keeps them), its chunk
// total all its chunks; foreground says who works its steps (a foreground run, or the
// cluster). It returns the attempt's number, the Store's actor is who started it.
func (s *Store) StartAttempt(ctx context.Context, a Attempt, foreground bool) (int, error) {
	var no int
	err := s.db.QueryRow(ctx, `
		UPDATE jobs SET attempt = attempt + 1, status = 'running', stage = 'upload', error = NULL, finished_at = NULL,
		       foreground = $2, chunks_total = (SELECT count(*) FROM chunks WHERE job_id = $1), updated_at = now()
		WHERE id = $1 AND status NOT IN ('queued', 'running') RETURNING attempt`, a.Job, foreground).Scan(&no)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("job %d has not ended (or does not exist): it cannot be sent again", a.Job)
	}
	if err != nil {
		return 0, fmt.Errorf("starting a new attempt of job %d: %w", a.Job, err)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO job_attempts (job_id, attempt, trigger, actor, first_chunk, chunks, rows)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, a.Job, no, a.Trigger, s.actor, a.FirstChunk, a.Chunks, a.Rows); err != nil {
		return 0, fmt.Errorf("recording attempt %d of job %d: %w", no, a.Job, err)
	}
	return no, nil
}

// ChunkAttempt returns the attempt of a job that a chunk belongs to: 1 for the chunks of
// the job's first run.
func (s *Store) ChunkAttempt(ctx context.Context, job int64, chunk int) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT coalesce(max(attempt), 1) FROM job_attempts WHERE job_id = $1 AND first_chunk <= $2`,
		job, chunk).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reading the attempt of job %d chunk %d: %w", job, chunk, err)
	}
	return n, nil
}

// Attempts returns a job's later attempts, oldest first.
func (s *Store) Attempts(ctx context.Context, job int64) ([]Attempt, error) {
	rows, err := s.db.Query(ctx, `SELECT job_id, attempt, trigger, actor, first_chunk, chunks, rows, created_at
		FROM job_attempts WHERE job_id = $1 ORDER BY attempt`, job)
	if err != nil {
		return nil, fmt.Errorf("reading the attempts of job %d: %w", job, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Attempt])
	if err != nil {
		return nil, fmt.Errorf("reading the attempts of job %d: %w", job, err)
	}
	return out, nil
}
