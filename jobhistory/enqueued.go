package jobhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnqueuedMessage is a recurring import message: a chunk enqueued to a recurring data job
// (table enqueued_messages, migration 00006). Its execution row (dmf_executions, the
// chunk's) is recorded before the enqueue is sent.
type EnqueuedMessage struct {
	// ExecutionID is the chunk's execution row.
	ExecutionID string
	// MessageID is what F&O answered the enqueue with.
	MessageID string
	Activity  string
	// ExternalID went with the enqueue as x-ms-dyn-externalidentifier.
	ExternalID string
	Bytes      int64
	// FOExecutionID is the execution F&O ran the message in, once known.
	FOExecutionID string
	EnqueuedAt    time.Time
}

// RecordEnqueued records the message F&O answered an enqueue with.
func (s *Store) RecordEnqueued(ctx context.Context, m EnqueuedMessage) error {
	if _, err := s.db.Exec(ctx, `
		INSERT INTO enqueued_messages (execution_id, message_id, activity, external_id, bytes)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (execution_id) DO NOTHING`,
		m.ExecutionID, m.MessageID, m.Activity, m.ExternalID, m.Bytes); err != nil {
		return fmt.Errorf("recording message %s of execution %s: %w", m.MessageID, m.ExecutionID, err)
	}
	return nil
}

// Enqueued returns the message of an execution; ok is false when none was recorded.
func (s *Store) Enqueued(ctx context.Context, executionID string) (m EnqueuedMessage, ok bool, err error) {
	var fo *string
	err = s.db.QueryRow(ctx, `SELECT execution_id, message_id, activity, external_id, bytes, fo_execution_id, enqueued_at
		FROM enqueued_messages WHERE execution_id = $1`, executionID).
		Scan(&m.ExecutionID, &m.MessageID, &m.Activity, &m.ExternalID, &m.Bytes, &fo, &m.EnqueuedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("reading the message of execution %s: %w", executionID, err)
	}
	if fo != nil {
		m.FOExecutionID = *fo
	}
	return m, true, nil
}

// SetFOExecution records the execution F&O ran a message in.
func (s *Store) SetFOExecution(ctx context.Context, executionID, foExecutionID string) error {
	if _, err := s.db.Exec(ctx, `UPDATE enqueued_messages SET fo_execution_id = $2 WHERE execution_id = $1`,
		executionID, foExecutionID); err != nil {
		return fmt.Errorf("recording the F&O execution of %s: %w", executionID, err)
	}
	return nil
}

// ForgetUnsent deletes the record of an execution that was recorded as about to be sent
// and certainly never reached F&O (it refused or never got the call), so that a later
// attempt sends it afresh. A submitted execution is never deleted.
func (s *Store) ForgetUnsent(ctx context.Context, executionID string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM dmf_executions WHERE execution_id = $1 AND submitted_at IS NULL`, executionID); err != nil {
		return fmt.Errorf("forgetting unsent execution %s: %w", executionID, err)
	}
	return nil
}
