package exports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// A recurring export drains its recurring data job's queue one message at a time: each
// message is dequeued, recorded by CorrelationId with its dequeue body (before anything is
// downloaded), downloaded, written durably to the destination, recorded as written, and
// only then acknowledged with the body of its last dequeue; then the next one is dequeued,
// until F&O answers 204. So a backlog never outlives F&O's 30-minute redelivery window
// message by message, a message acknowledged is one whose files are there, and a
// message F&O hands out again (unacknowledged: a crash, a lost ack) is acknowledged
// without being written twice.

// Dequeue takes the next message of a recurring export (the seq-th of its job) and
// decides what it needs (NextForMessage): its delivery, an ack alone, or nothing; 204
// (no message) ends the job.
func (s *Stages) Dequeue(ctx context.Context, at imports.Attempt, jobID int64, seq int) error {
	j, err := s.job(ctx, jobID)
	if err != nil || jobhistory.JobTerminal(j.Status) {
		return err
	}
	p, err := s.admit(ctx, j, StepDequeue)
	if err != nil {
		return err
	}
	// A dequeue runs again when its node died after it committed what it dequeued but
	// before the runner recorded it done: the job has gone past it, and dequeuing again
	// would take a message out of turn (or the job's own message back) beside its
	// delivery.
	if done, err := s.dequeued(ctx, j, seq); err != nil || done {
		return err
	}
	client, err := s.d.DMF(j.Environment)
	if err != nil {
		return s.FailJob(ctx, j, StepDequeue, err)
	}
	hist := s.hist(s.d.DB)
	if err := hist.SetStage(ctx, j.ID, "dequeue"); err != nil {
		return err
	}
	m, err := client.Dequeue(ctx, p.Activity)
	if err != nil {
		// 429 and 5xx are retried inside the call, then by the runner with backoff; the
		// schedule goes on whatever this job does.
		return s.retryOrFail(ctx, at, j, StepDequeue, fmt.Errorf("dequeue #%d: %w", seq, err))
	}
	if m == nil {
		return s.next(ctx, j, "finalize", Step{Kind: StepFinalize, Job: j},
			fmt.Sprintf("no message left (204) after %d dequeues", seq-1), map[string]any{"dequeues": seq - 1})
	}
	if m.CorrelationID == "" {
		return s.FailJob(ctx, j, StepDequeue, fmt.Errorf("dequeue #%d: F&O handed out a message without a CorrelationId; it cannot be tracked or acknowledged", seq))
	}
	hasFile := bool(m.IsDownLoadFileExist) && m.DownloadLocation != ""
	activity := config.ActivityKey(p.Activity)
	return pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		before, err := hist.RecurringMessageOf(ctx, j.Environment, activity, m.CorrelationID)
		switch {
		case err == nil && before.JobID == j.ID:
			// The job has come round to a message it dequeued already (its ack failed,
			// F&O handed it out again): the queue holds nothing new, and acknowledging
			// it again here could go round for as long as F&O refuses acks; the next
			// run acknowledges it.
			if err := hist.AddEvent(ctx, j.ID, "dequeue", "warn", fmt.Sprintf("message %s handed out again to the job that delivered it (%s): stopping here; the next run acknowledges it",
				m.CorrelationID, before.Status), map[string]any{"correlation_id": m.CorrelationID}); err != nil {
				return err
			}
			if err := hist.SetStage(ctx, j.ID, "finalize"); err != nil {
				return err
			}
			return s.d.Steps.Insert(ctx, tx, Step{Kind: StepFinalize, Job: j})
		case err != nil && !errors.Is(err, jobhistory.ErrMessageNotFound):
			return err
		}
		rec, isNew, err := hist.RecordDequeue(ctx, jobhistory.RecurringMessage{Environment: j.Environment, Activity: activity,
			CorrelationID: m.CorrelationID, Project: p.Name, JobID: j.ID, Seq: seq, DequeueBody: m.Raw, DownloadLocation: m.DownloadLocation})
		if err != nil {
			return err
		}
		prev := rec.Status
		action, status := NextForMessage(prev, hasFile, p.OnNoFile)
		if status != prev {
			if err := hist.SetMessageStatus(ctx, j.Environment, activity, m.CorrelationID, status, noFileReason(m, hasFile)); err != nil {
				return err
			}
		}
		attrs := map[string]any{"correlation_id": m.CorrelationID, "seq": seq, "dequeues": rec.Dequeues}
		level, text := "info", fmt.Sprintf("message %s dequeued (#%d)", m.CorrelationID, seq)
		switch {
		case !isNew && (prev == jobhistory.MessageWritten || prev == jobhistory.MessageAcked):
			level, text = "warn", fmt.Sprintf("message %s handed out again (dequeue %d of it): its files were written before; acknowledging it, not writing it again", m.CorrelationID, rec.Dequeues)
			s.d.Metrics.message("redelivered")
		case !isNew:
			text = fmt.Sprintf("message %s handed out again (dequeue %d of it): delivering it", m.CorrelationID, rec.Dequeues)
		}
		if !hasFile {
			level, text = "warn", fmt.Sprintf("message %s has no file (%s): %s", m.CorrelationID, noFileReason(m, hasFile), map[MessageAction]string{
				Ack: "acknowledged (on_no_file: ack)", Leave: "left unacknowledged (on_no_file: skip)", Write: "delivering"}[action])
			s.d.Metrics.message("no_file")
		}
		if err := hist.AddEvent(ctx, j.ID, "dequeue", level, text, attrs); err != nil {
			return err
		}
		if action == Leave {
			return s.d.Steps.Insert(ctx, tx, Step{Kind: StepDequeue, Job: j, Seq: seq + 1})
		}
		if err := hist.SetStage(ctx, j.ID, "deliver"); err != nil {
			return err
		}
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepDeliver, Job: j, Unit: m.CorrelationID})
	})
}

// dequeued reports whether the seq-th dequeue of job j is done: a message is recorded
// for it or a later one, or the queue answered 204 and the job is finalizing.
func (s *Stages) dequeued(ctx context.Context, j *jobhistory.Job, seq int) (bool, error) {
	if j.Stage == "finalize" {
		return true, nil
	}
	last, ok, err := s.hist(s.d.DB).LastJobMessage(ctx, j.ID)
	return ok && last.Seq >= seq, err
}

// noFileReason says why a dequeued message has no file.
func noFileReason(m *dmf.Message, hasFile bool) string {
	switch {
	case hasFile:
		return ""
	case m.FileDownLoadErrorMessage != "":
		return "F&O: " + m.FileDownLoadErrorMessage
	case m.DownloadLocation == "":
		return "no DownloadLocation"
	}
	return "IsDownLoadFileExist is false"
}

// deliverMessage delivers a dequeued message: when its files are not written yet, its
// file is downloaded (with the bearer token; an http://...:80 location is put on the
// environment's https URL) and written; then it is acknowledged with the exact body of
// its last dequeue. A failed ack is retried by the client (429, 5xx, the network) until
// its retry deadline; after that the message stays written and unacknowledged, and the
// dequeue that gets it again acknowledges it.
func (s *Stages) deliverMessage(ctx context.Context, at imports.Attempt, j *jobhistory.Job, p *Project, corr string) error {
	activity := config.ActivityKey(p.Activity)
	hist := s.hist(s.d.DB)
	rec, err := hist.RecurringMessageOf(ctx, j.Environment, activity, corr)
	if errors.Is(err, jobhistory.ErrMessageNotFound) {
		return permanent(err)
	}
	if err != nil {
		return err
	}
	client, err := s.d.DMF(j.Environment)
	if err != nil {
		return err
	}
	next := Step{Kind: StepDequeue, Job: j, Seq: rec.Seq + 1}
	if rec.Status == jobhistory.MessageDequeued || rec.Status == jobhistory.MessageFailed {
		m := &dmf.Message{Raw: rec.DequeueBody}
		if err := decodeMessage(rec.DequeueBody, m); err != nil {
			return s.messageFailed(ctx, j, rec, next, err)
		}
		pkg, size, err := s.download(ctx, func(w io.Writer) (int64, error) { return client.DownloadMessage(ctx, m, w) })
		if err != nil {
			if at.Last() {
				return s.messageFailed(ctx, j, rec, next, fmt.Errorf("downloading message %s: giving up after %d attempts: %w", corr, at.N, err))
			}
			return fmt.Errorf("downloading message %s: %w", corr, err)
		}
		defer s.discard(pkg)
		man := Manifest{Project: p.Name, Job: j.ID, CorrelationID: corr, Status: "Processed", LegalEntity: p.LegalEntity,
			ExportedAt: j.CreatedAt.UTC()}
		res, err := s.writePackage(ctx, j, p, corr, pkg, size, man)
		var ce *ContentError
		switch {
		case errors.As(err, &ce):
			return s.messageFailed(ctx, j, rec, next, err)
		case err != nil && at.Last():
			return s.messageFailed(ctx, j, rec, next, fmt.Errorf("giving up after %d attempts: %w", at.N, err))
		case err != nil:
			return err
		}
		if err := hist.SetMessageWritten(ctx, j.Environment, activity, corr, res.rows, len(res.files)); err != nil {
			return err
		}
		s.d.Metrics.message("written")
		s.event(ctx, j.ID, StepDeliver, "info", fmt.Sprintf("message %s written: %d rows in %d files", corr, res.rows, len(res.files)),
			map[string]any{"correlation_id": corr, "rows": res.rows, "files": len(res.files), "package_bytes": size})
		rec.Status = jobhistory.MessageWritten
	}
	if err := hist.CountAck(ctx, j.Environment, activity, corr); err != nil {
		return err
	}
	if err := client.Ack(ctx, p.Activity, &dmf.Message{CorrelationID: corr, Raw: rec.DequeueBody}); err != nil {
		if ctx.Err() != nil {
			return err // stopping: the step runs again and acknowledges
		}
		// The client retried it for its retry deadline. The message stays written and
		// unacknowledged: F&O hands it out again, and that dequeue acknowledges it
		// without writing it again.
		s.d.Metrics.message("ack_failed")
		s.event(ctx, j.ID, "ack", "error", fmt.Sprintf("ack of message %s failed: %v; its files are written, and its redelivery will be acknowledged", corr, err),
			map[string]any{"correlation_id": corr})
		return s.next(ctx, j, "dequeue", next, "", nil)
	}
	return pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		// A message without a file keeps saying so (its error) once acknowledged.
		if err := hist.SetMessageStatus(ctx, j.Environment, activity, corr, jobhistory.MessageAcked, rec.Error); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, j.ID, "ack", "info", fmt.Sprintf("message %s acknowledged", corr),
			map[string]any{"correlation_id": corr}); err != nil {
			return err
		}
		if err := hist.SetStage(ctx, j.ID, "dequeue"); err != nil {
			return err
		}
		s.d.Metrics.message("acked")
		return s.d.Steps.Insert(ctx, tx, next)
	})
}

// decodeMessage reads a stored dequeue body.
func decodeMessage(body []byte, m *dmf.Message) error {
	if err := json.Unmarshal(bytes.TrimSpace(body), m); err != nil {
		return fmt.Errorf("the stored dequeue body of the message does not decode: %w", err)
	}
	return nil
}

// messageFailed records a message that cannot be delivered (it is not acknowledged: F&O
// hands it out again after 30 minutes) and goes on with the next one.
func (s *Stages) messageFailed(ctx context.Context, j *jobhistory.Job, rec jobhistory.RecurringMessage, next Step, cause error) error {
	err := pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		if err := hist.SetMessageStatus(ctx, rec.Environment, rec.Activity, rec.CorrelationID, jobhistory.MessageFailed, cause.Error()); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, j.ID, string(StepDeliver), "error", fmt.Sprintf("message %s not delivered (not acknowledged: F&O hands it out again): %v",
			rec.CorrelationID, cause), map[string]any{"correlation_id": rec.CorrelationID}); err != nil {
			return err
		}
		if err := hist.SetStage(ctx, j.ID, "dequeue"); err != nil {
			return err
		}
		return s.d.Steps.Insert(ctx, tx, next)
	})
	if err != nil {
		return err
	}
	s.d.Metrics.message("failed")
	return permanent(cause)
}
