package jobhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The statuses of a recurring export message (recurring_messages.status).
const (
	// MessageDequeued: recorded at its dequeue, before its file is downloaded.
	MessageDequeued = "dequeued"
	// MessageWritten: its files are durable at the destination; the ack is due.
	MessageWritten = "written"
	// MessageAcked: acknowledged; F&O does not hand it out again.
	MessageAcked = "acked"
	// MessageNoFile: dequeued without a download location; acknowledged as the project
	// says (export.on_no_file: ack).
	MessageNoFile = "no_file"
	// MessageSkipped: dequeued without a download location and left unacknowledged
	// (export.on_no_file: skip).
	MessageSkipped = "skipped"
	// MessageFailed: its file could not be delivered; it is not acknowledged.
	MessageFailed = "failed"
)

// RecurringMessage is a message of a recurring export job, by CorrelationId (table
// recurring_messages, migration 00006).
type RecurringMessage struct {
	Environment string
	// Activity is the recurring job's activity id, lower-case, without braces.
	Activity      string
	CorrelationID string
	Project       string
	// JobID and Seq are the job that delivers it and its place among that job's messages.
	JobID int64
	Seq   int
	// Status is one of the Message* statuses.
	Status string
	// DequeueBody is the last dequeue answer for the message, exactly as received: what
	// the ack sends back.
	DequeueBody      []byte
	DownloadLocation string
	// Dequeues counts how often F&O handed the message out; AckAttempts the acks sent.
	Dequeues    int
	AckAttempts int
	Rows        int64
	Files       int
	Error       string

	FirstDequeuedAt time.Time
	LastDequeuedAt  time.Time
	WrittenAt       time.Time
	AckedAt         time.Time
}

const recurringColumns = `environment, activity, correlation_id, project, coalesce(job_id, 0), seq, status, dequeue_body,
	download_location, dequeues, ack_attempts, rows, files, coalesce(error, ''), first_dequeued_at, last_dequeued_at,
	written_at, acked_at`

func scanRecurring(row pgx.Row, extra ...any) (RecurringMessage, error) {
	var (
		m            RecurringMessage
		written, ack *time.Time
	)
	err := row.Scan(append([]any{&m.Environment, &m.Activity, &m.CorrelationID, &m.Project, &m.JobID, &m.Seq, &m.Status,
		&m.DequeueBody, &m.DownloadLocation, &m.Dequeues, &m.AckAttempts, &m.Rows, &m.Files, &m.Error,
		&m.FirstDequeuedAt, &m.LastDequeuedAt, &written, &ack}, extra...)...)
	if written != nil {
		m.WrittenAt = *written
	}
	if ack != nil {
		m.AckedAt = *ack
	}
	return m, err
}

// RecordDequeue records that F&O handed out m (its environment, activity, CorrelationId,
// project, job, seq, body and download location), before anything is downloaded. A
// message seen before keeps its status and counts; its body, download location, job and
// place are those of this dequeue, and it counts one more dequeue. It returns the message
// as recorded now and whether it was new.
func (s *Store) RecordDequeue(ctx context.Context, m RecurringMessage) (RecurringMessage, bool, error) {
	var inserted bool
	rec, err := scanRecurring(s.db.QueryRow(ctx, `
		INSERT INTO recurring_messages (environment, activity, correlation_id, project, job_id, seq, status, dequeue_body,
		                                download_location)
		VALUES ($1, $2, $3, $4, $5, $6, 'dequeued', $7, $8)
		ON CONFLICT (environment, activity, correlation_id) DO UPDATE
		SET dequeue_body = EXCLUDED.dequeue_body, download_location = EXCLUDED.download_location,
		    job_id = EXCLUDED.job_id, seq = EXCLUDED.seq, dequeues = recurring_messages.dequeues + 1,
		    last_dequeued_at = now()
		RETURNING `+recurringColumns+`, xmax = 0`,
		m.Environment, m.Activity, m.CorrelationID, m.Project, nullInt(m.JobID), m.Seq, m.DequeueBody, m.DownloadLocation), &inserted)
	if err != nil {
		return rec, false, fmt.Errorf("recording recurring message %s: %w", m.CorrelationID, err)
	}
	return rec, inserted, nil
}

// ErrMessageNotFound is returned (wrapped) for a recurring message that is not recorded.
var ErrMessageNotFound = errors.New("recurring message not recorded")

// RecurringMessageOf returns one recorded message.
func (s *Store) RecurringMessageOf(ctx context.Context, environment, activity, correlationID string) (RecurringMessage, error) {
	m, err := scanRecurring(s.db.QueryRow(ctx, `SELECT `+recurringColumns+` FROM recurring_messages
		WHERE environment = $1 AND activity = $2 AND correlation_id = $3`, environment, activity, correlationID))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fmt.Errorf("message %s: %w", correlationID, ErrMessageNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("reading recurring message %s: %w", correlationID, err)
	}
	return m, nil
}

// JobMessages returns the messages a job delivers, in the order it dequeued them.
func (s *Store) JobMessages(ctx context.Context, job int64) ([]RecurringMessage, error) {
	rows, err := s.db.Query(ctx, `SELECT `+recurringColumns+` FROM recurring_messages WHERE job_id = $1 ORDER BY seq`, job)
	if err != nil {
		return nil, fmt.Errorf("reading the recurring messages of job %d: %w", job, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RecurringMessage, error) { return scanRecurring(r) })
	if err != nil {
		return nil, fmt.Errorf("reading the recurring messages of job %d: %w", job, err)
	}
	return out, nil
}

// LastJobMessage returns the message a job dequeued last (its highest seq); ok is false
// when it has dequeued none.
func (s *Store) LastJobMessage(ctx context.Context, job int64) (m RecurringMessage, ok bool, err error) {
	m, err = scanRecurring(s.db.QueryRow(ctx, `SELECT `+recurringColumns+` FROM recurring_messages
		WHERE job_id = $1 ORDER BY seq DESC LIMIT 1`, job))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("reading the last recurring message of job %d: %w", job, err)
	}
	return m, true, nil
}

// SetMessageWritten records that a message's files are durable at the destination.
func (s *Store) SetMessageWritten(ctx context.Context, environment, activity, correlationID string, rows int64, files int) error {
	return s.execMessage(ctx, correlationID, "recording the delivery of", `
		UPDATE recurring_messages SET status = 'written', rows = $4, files = $5, error = NULL,
		       written_at = coalesce(written_at, now())
		WHERE environment = $1 AND activity = $2 AND correlation_id = $3`, environment, activity, correlationID, rows, files)
}

// SetMessageStatus records where a message stands (acked, no_file, skipped, failed) and
// why (msg, "" for nothing to say).
func (s *Store) SetMessageStatus(ctx context.Context, environment, activity, correlationID, status, msg string) error {
	return s.execMessage(ctx, correlationID, "recording the status of", `
		UPDATE recurring_messages SET status = $4, error = $5,
		       acked_at = CASE WHEN $4 IN ('acked') THEN coalesce(acked_at, now()) ELSE acked_at END
		WHERE environment = $1 AND activity = $2 AND correlation_id = $3`, environment, activity, correlationID, status, nullString(msg))
}

// CountAck records that an ack of a message is about to be sent.
func (s *Store) CountAck(ctx context.Context, environment, activity, correlationID string) error {
	return s.execMessage(ctx, correlationID, "counting an ack of", `
		UPDATE recurring_messages SET ack_attempts = ack_attempts + 1
		WHERE environment = $1 AND activity = $2 AND correlation_id = $3`, environment, activity, correlationID)
}

func (s *Store) execMessage(ctx context.Context, correlationID, what, sql string, args ...any) error {
	tag, err := s.db.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s recurring message %s: %w", what, correlationID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s recurring message %s: %w", what, correlationID, ErrMessageNotFound)
	}
	return nil
}
