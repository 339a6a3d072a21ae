package jobhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Execution is one DMF execution sent (or about to be sent) to F&O.
type Execution struct {
	ID              string
	JobID           int64
	ChunkNo         int
	Attempt         int
	Environment     string
	DefinitionGroup string
	LegalEntity     string
	// Operation is "import" or "export".
	Operation string
	BlobID    string
	// DMFStatus is the last DMFExecutionSummaryStatus seen, empty before the first poll.
	DMFStatus string
	Polls     int
	// SubmittedAt is when F&O accepted the execution; zero while it is only recorded as
	// about to be sent (a crash in between leaves it so).
	SubmittedAt time.Time
	// RecordedAt is when the execution was recorded as about to be sent.
	RecordedAt   time.Time
	LastPolledAt time.Time
	FinishedAt   time.Time
	Error        string
}

// RecordExecution records that an execution is about to be sent. Recording an id that
// exists changes nothing: the row is the proof that it may have been sent.
func (s *Store) RecordExecution(ctx context.Context, e Execution) error {
	op := e.Operation
	if op == "" {
		op = "import"
	}
	if _, err := s.db.Exec(ctx, `
		INSERT INTO dmf_executions (execution_id, job_id, chunk_no, attempt, environment, definition_group,
		                            legal_entity, operation, blob_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (execution_id) DO NOTHING`,
		e.ID, e.JobID, e.ChunkNo, e.Attempt, e.Environment, e.DefinitionGroup, e.LegalEntity, op, nullString(e.BlobID)); err != nil {
		return fmt.Errorf("recording execution %s: %w", e.ID, err)
	}
	return nil
}

// executionColumns are the columns scanExecution reads.
const executionColumns = `execution_id, job_id, chunk_no, attempt, environment, definition_group, legal_entity,
	operation, blob_id, dmf_status, polls, submitted_at, recorded_at, last_polled_at, finished_at, error`

// Execution returns one execution; ok is false when there is none.
func (s *Store) Execution(ctx context.Context, id string) (e Execution, ok bool, err error) {
	e, err = scanExecution(s.db.QueryRow(ctx, `SELECT `+executionColumns+` FROM dmf_executions WHERE execution_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("reading execution %s: %w", id, err)
	}
	return e, true, nil
}

// Executions returns a job's executions by chunk and attempt, in the order of ExecutionIDs.
func (s *Store) Executions(ctx context.Context, job int64) ([]Execution, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+executionColumns+` FROM dmf_executions WHERE job_id = $1 ORDER BY chunk_no, attempt, execution_id`, job)
	if err != nil {
		return nil, fmt.Errorf("reading the executions of job %d: %w", job, err)
	}
	execs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Execution, error) { return scanExecution(r) })
	if err != nil {
		return nil, fmt.Errorf("reading the executions of job %d: %w", job, err)
	}
	return execs, nil
}

func scanExecution(row pgx.Row) (Execution, error) {
	var (
		e                           Execution
		chunk                       *int
		blob, status, execErr       *string
		submitted, polled, finished *time.Time
	)
	err := row.Scan(&e.ID, &e.JobID, &chunk, &e.Attempt, &e.Environment, &e.DefinitionGroup, &e.LegalEntity,
		&e.Operation, &blob, &status, &e.Polls, &submitted, &e.RecordedAt, &polled, &finished, &execErr)
	if err != nil {
		return e, err
	}
	if chunk != nil {
		e.ChunkNo = *chunk
	}
	for _, p := range []struct{ dst, src *string }{{&e.BlobID, blob}, {&e.DMFStatus, status}, {&e.Error, execErr}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	for _, p := range []struct{ dst, src *time.Time }{{&e.SubmittedAt, submitted}, {&e.LastPolledAt, polled}, {&e.FinishedAt, finished}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return e, nil
}

// ExecutionIDs returns the ids of a job's executions by chunk and attempt.
func (s *Store) ExecutionIDs(ctx context.Context, job int64) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT execution_id FROM dmf_executions WHERE job_id = $1 ORDER BY chunk_no, attempt`, job)
	if err != nil {
		return nil, fmt.Errorf("reading the executions of job %d: %w", job, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the executions of job %d: %w", job, err)
	}
	return ids, nil
}

func (s *Store) execExecution(ctx context.Context, id, what, sql string, args ...any) error {
	tag, err := s.db.Exec(ctx, sql, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("%s execution %s: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s execution %s: not recorded", what, id)
	}
	return nil
}

// SetSubmitted records that F&O accepted an execution, with the blob it imports.
func (s *Store) SetSubmitted(ctx context.Context, id, blobID string) error {
	return s.execExecution(ctx, id, "submitting", `
		UPDATE dmf_executions SET submitted_at = coalesce(submitted_at, now()), blob_id = coalesce($2, blob_id)
		WHERE execution_id = $1`, nullString(blobID))
}

// ClaimPoll takes the next status call of an execution before it is made: it counts the
// call and stamps its time, on the condition that the execution still has the polls
// count seen. So two stages (or nodes) asking about one execution never call F&O at
// once, and a call a crash cuts short still counts in the schedule: the one that gets
// false reads the execution again and waits its turn. Record the answer with RecordAnswer.
func (s *Store) ClaimPoll(ctx context.Context, id string, seen int) (bool, error) {
	tag, err := s.db.Exec(ctx, `
		UPDATE dmf_executions SET polls = polls + 1, last_polled_at = now()
		WHERE execution_id = $1 AND polls = $2`, id, seen)
	if err != nil {
		return false, fmt.Errorf("claiming a status call of execution %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordAnswer records what a status call ClaimPoll counted answered: the status seen ("" when
// the call failed: the last one seen is kept); a final status sets its end time and msg
// its error ("" for none). The poll schedule goes on from now.
func (s *Store) RecordAnswer(ctx context.Context, id, status string, final bool, msg string) error {
	return s.execExecution(ctx, id, "recording the status of", `
		UPDATE dmf_executions SET dmf_status = coalesce(NULLIF($2, ''), dmf_status), last_polled_at = now(),
		       finished_at = CASE WHEN $3 THEN coalesce(finished_at, now()) END, error = coalesce($4, error)
		WHERE execution_id = $1`, status, final, nullString(msg))
}

// UnansweredImports returns the import executions of an environment's definition group,
// other than except, that were recorded as about to be sent for a job still running but
// never recorded as submitted nor finished: sent by a node that died before F&O answered,
// or waiting to be sent.
func (s *Store) UnansweredImports(ctx context.Context, environment, group, except string) ([]string, error) {
	rows, err := s.db.Query(ctx, `
		SELECT e.execution_id FROM dmf_executions e JOIN jobs j ON j.id = e.job_id AND j.finished_at IS NULL
		WHERE e.environment = $1 AND e.definition_group = $2 AND e.operation = 'import'
		  AND e.submitted_at IS NULL AND e.finished_at IS NULL AND e.execution_id <> $3
		ORDER BY e.execution_id`, environment, group, except)
	if err != nil {
		return nil, fmt.Errorf("listing the unanswered imports of definition group %s: %w", group, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing the unanswered imports of definition group %s: %w", group, err)
	}
	return ids, nil
}
