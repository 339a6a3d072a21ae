package imports

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/datapackage"
	"github.com/dmfpipe/dmfpipe/exports/writer"
	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/internal/tempfile"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Recurring imports (mode: recurring). A chunk of the job's valid rows is enqueued to the
// project's recurring data job instead of uploaded and imported into a definition group:
// as a data package (enqueue: package), as a CSV-Unicode file of the entity (file), or,
// for a file whose rows are all valid, the source file as given (source). The chunk's
// execution row (its deterministic id) is recorded before the enqueue is sent, and the
// message id F&O answers (table enqueued_messages) once it is; the poll then follows
// GetMessageStatus, and brings the errors of the execution F&O ran the message in
// (GetExecutionIdByMessageId) onto the chunk's rows, as an import's poll does.
//
// An enqueue is not idempotent and F&O offers no way to find a message by its external
// identifier: an enqueue whose answer was lost (or a crash after sending it) fails its
// chunk, saying so, rather than risk sending the rows twice.

// enqueueGroup is the definition group recorded for a recurring job's executions: the
// job's own namespace, never an import project's (their lock and orphan waits ignore it).
func enqueueGroup(activity string) string { return "recurring:" + config.ActivityKey(activity) }

// enqueue sends one chunk of a recurring import (see the notes above).
func (s *Stages) enqueue(ctx context.Context, at Attempt, j *jobhistory.Job, c jobhistory.Chunk, p *Project, client *dmf.Client) error {
	hist := s.hist(s.d.DB)
	attempt, err := hist.StartChunkUpload(ctx, c.JobID, c.No)
	if err != nil {
		return err
	}
	ex := jobhistory.Execution{
		ID: ExecutionID(p.Name, j.ID, j.ExecutionNonce, c.No, attempt), JobID: j.ID, ChunkNo: c.No, Attempt: attempt,
		Environment: j.Environment, DefinitionGroup: enqueueGroup(p.Activity), LegalEntity: j.LegalEntity, Operation: "import",
	}
	prev, recorded, err := hist.Execution(ctx, ex.ID)
	if err != nil {
		return err
	}
	switch {
	case recorded && !prev.SubmittedAt.IsZero():
		return s.Submitted(ctx, j, c, ex.ID, prev.BlobID)
	case recorded:
		return s.FailChunk(ctx, c, fmt.Errorf("the enqueue of chunk %d (external identifier %s) may have reached F&O before a crash, and F&O cannot be asked: "+
			"look for its message in F&O's recurring integration messages before resubmitting its rows: %w", c.No, ex.ID, dmf.ErrResponseLost))
	}
	body, err := s.enqueueBody(ctx, j, c, p)
	var refused *refusedError
	if errors.As(err, &refused) {
		return s.FailChunk(ctx, c, refused.err)
	}
	if err != nil {
		return err
	}
	defer func() {
		body.f.Close()
		os.Remove(body.f.Name())
	}()
	if err := hist.RecordExecution(ctx, ex); err != nil {
		return err
	}
	msgID, err := client.Enqueue(ctx, dmf.EnqueueRequest{ActivityID: p.Activity, Entity: body.entity, Company: j.LegalEntity,
		ExternalID: body.external, ContentType: body.contentType, Body: body.f, Size: body.size})
	switch {
	case errors.Is(err, dmf.ErrResponseLost):
		return s.FailChunk(ctx, c, fmt.Errorf("the answer to the enqueue of chunk %d (external identifier %s) was lost: whether F&O took it is unknown; "+
			"look for its message in F&O before resubmitting its rows: %w", c.No, body.external, err))
	case err != nil:
		// F&O refused it, or it never left: nothing was enqueued.
		if ferr := hist.ForgetUnsent(ctx, ex.ID); ferr != nil {
			return ferr
		}
		if errors.Is(err, dmf.ErrTooLarge) {
			return s.FailChunk(ctx, c, fmt.Errorf("chunk %d is %d bytes, more than F&O takes in one enqueue (it answers 413 above about 32 MiB): "+
				"lower target.chunk_rows%s: %w", c.No, body.size, map[bool]string{true: ", or enqueue rows (enqueue: package)"}[p.Enqueue == config.EnqueueSource], err))
		}
		return s.retryOrFailChunk(ctx, at, c, err)
	}
	if err := hist.RecordEnqueued(ctx, jobhistory.EnqueuedMessage{ExecutionID: ex.ID, MessageID: msgID, Activity: config.ActivityKey(p.Activity),
		ExternalID: body.external, Bytes: body.size}); err != nil {
		return err
	}
	s.event(ctx, j.ID, StepUpload, "info", fmt.Sprintf("chunk %d: %d rows enqueued to activity %s as message %s (%s, %d bytes)",
		c.No, c.RowCount, p.Activity, msgID, p.Enqueue, body.size), map[string]any{"chunk": c.No, "execution": ex.ID, "message": msgID})
	return s.Submitted(ctx, j, c, ex.ID, msgID)
}

// refusedError is a chunk that cannot be enqueued as the project says.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }

// enqueued is a chunk's body, in a temporary file.
type enqueued struct {
	f                             *os.File
	size                          int64
	entity, contentType, external string
}

// enqueueBody writes the body of a chunk's enqueue to a temporary file.
func (s *Stages) enqueueBody(ctx context.Context, j *jobhistory.Job, c jobhistory.Chunk, p *Project) (*enqueued, error) {
	entry, err := jobhistory.NewLedger(s.d.DB).Get(ctx, j.SourceFileID)
	if err != nil {
		return nil, err
	}
	file := path.Base(entry.File.Name)
	external := file
	if j.ChunksTotal > 1 {
		external = fmt.Sprintf("%s#%d", file, c.No)
	}
	switch p.Enqueue {
	case config.EnqueueSource:
		if j.Counts.Invalid > 0 {
			return nil, &refusedError{fmt.Errorf("%d rows of %s are invalid by the project's rules; enqueue: source sends the file as given, so nothing was sent",
				j.Counts.Invalid, file)}
		}
		f, size, err := s.spool(ctx, entry.Connection, entry.File.Name)
		if err != nil {
			return nil, err
		}
		return &enqueued{f: f, size: size, entity: p.Entity.DMFName, contentType: "application/octet-stream", external: file}, nil
	case config.EnqueueFile:
		f, size, err := s.chunkFile(ctx, c)
		if err != nil {
			return nil, err
		}
		return &enqueued{f: f, size: size, entity: p.Entity.DMFName, contentType: "text/csv", external: external}, nil
	}
	layout, err := s.staging(s.d.DB).Layout(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	f, size, err := s.buildPackage(ctx, c, datapackage.Spec{DefinitionGroup: p.Name, Entity: p.Entity.DMFName,
		TargetEntity: p.Entity.AOTName, Fields: layout.Fields})
	if err != nil {
		return nil, err
	}
	return &enqueued{f: f, size: size, contentType: "application/zip", external: external}, nil
}

// chunkFile streams a chunk's rows from staging into a CSV-Unicode file (UTF-16 LE with
// BOM, CRLF, a header of the entity's fields), the format F&O's file jobs take.
func (s *Stages) chunkFile(ctx context.Context, c jobhistory.Chunk) (*os.File, int64, error) {
	layout, err := s.staging(s.d.DB).Layout(ctx, c.JobID)
	if err != nil {
		return nil, 0, err
	}
	return s.tempFile(fmt.Sprintf("the file of job %d chunk %d", c.JobID, c.No), fmt.Sprintf("enqueue-%d-%d-*.csv", c.JobID, c.No), func(w io.Writer) error {
		cw, err := writer.New(w, writer.Options{Encoding: writer.UTF16, BOM: true})
		if err != nil {
			return err
		}
		if err := cw.Begin("chunk", layout.Fields); err != nil {
			return err
		}
		if err := s.eachChunkRow(ctx, c, cw.Row); err != nil {
			return err
		}
		return cw.Close()
	})
}

// spool copies a source file into a temporary file.
func (s *Stages) spool(ctx context.Context, connection, name string) (*os.File, int64, error) {
	src, err := s.d.Source(ctx, connection)
	if err != nil {
		return nil, 0, err
	}
	defer src.Close()
	rc, err := src.Open(ctx, name)
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s to enqueue it: %w", name, err)
	}
	defer rc.Close()
	return s.tempFile("a copy of "+name, "enqueue-*", func(w io.Writer) error {
		_, err := io.Copy(w, rc)
		return err
	})
}

// tempFile writes what (a package, a file) to a temporary file with fill and returns it
// with its size (see internal/tempfile for its name).
func (s *Stages) tempFile(what, pattern string, fill func(io.Writer) error) (*os.File, int64, error) {
	f, err := tempfile.Create("", pattern)
	if err != nil {
		return nil, 0, fmt.Errorf("creating %s: %w", what, err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, fmt.Errorf("building %s: %w", what, err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := fill(bw); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	return f, st.Size(), nil
}

// messageGrace is how long after an enqueue a 400 from GetMessageStatus still means
// "not registered yet".
const messageGrace = 5 * time.Minute

// pollMessage follows a recurring import chunk's message until it ends (every documented
// spelling of its statuses is known; an unknown one is polled on until the deadline), then
// brings F&O's verdict onto the chunk's rows: Processed imports them; ProcessedWithErrors
// and PostProcessingFailed place the errors of the message's execution on their rows;
// PreProcessingError imports none.
func (s *Stages) pollMessage(ctx context.Context, at Attempt, p *Project, c jobhistory.Chunk, ex jobhistory.Execution) error {
	hist := s.hist(s.d.DB)
	msg, ok, err := hist.Enqueued(ctx, ex.ID)
	if err != nil {
		return err
	}
	if !ok {
		return permanent(fmt.Errorf("execution %s has no recorded message", ex.ID))
	}
	if wait := s.pollWait(ex); wait > 0 {
		return snooze(wait)
	}
	client, err := s.d.DMF(ex.Environment)
	if err != nil {
		return err
	}
	interval := s.pollInterval(ex.Environment, ex.Polls+1)
	elapsed := s.d.Now().Sub(ex.SubmittedAt)
	st, err := client.GetMessageStatus(s.claimed(ctx, ex.ID, ex.Polls), msg.MessageID)
	if errors.Is(err, jobstep.ErrTurnTaken) {
		return snooze(interval)
	}
	if err != nil {
		if rerr := hist.RecordAnswer(ctx, ex.ID, "", false, ""); rerr != nil {
			return rerr
		}
		var he *dmf.HTTPError
		if errors.As(err, &he) && he.StatusCode == 400 && elapsed < messageGrace {
			return snooze(interval)
		}
		return s.retryOrFailChunk(ctx, at, c, err)
	}
	if !st.Terminal() {
		if deadline := s.pollSettings(ex.Environment).Deadline.D(); elapsed > deadline {
			text := fmt.Sprintf("message %s still %s after %s (poll deadline %s): whether F&O imported its rows is unknown; "+
				"look the message up in F&O before resubmitting them", msg.MessageID, st, elapsed.Round(time.Second), deadline)
			if err := hist.RecordAnswer(ctx, ex.ID, string(st), true, text); err != nil {
				return err
			}
			return s.FailChunk(ctx, c, fmt.Errorf("%s: %w", text, dmf.ErrPollDeadline))
		}
		if err := hist.RecordAnswer(ctx, ex.ID, string(st), false, ""); err != nil {
			return err
		}
		if ex.Polls == 0 || string(st) != ex.DMFStatus {
			s.event(ctx, c.JobID, StepPoll, "info", fmt.Sprintf("chunk %d: message %s is %s", c.No, msg.MessageID, st),
				map[string]any{"chunk": c.No, "message": msg.MessageID, "status": string(st)})
		}
		return snooze(interval)
	}
	foExec := msg.FOExecutionID
	if foExec == "" && st != dmf.MessageProcessed {
		if foExec, err = client.GetExecutionIDByMessageID(ctx, msg.MessageID); err != nil {
			return s.retryOrFailChunk(ctx, at, c, err)
		}
		if foExec != "" {
			if err := hist.SetFOExecution(ctx, ex.ID, foExec); err != nil {
				return err
			}
		}
	}
	var v Verdict
	switch {
	case st == dmf.MessageProcessed, st == dmf.MessageAcked:
	case st == dmf.MessagePreProcessingError:
		v.NotImported = fmt.Sprintf("not imported: F&O could not preprocess message %s (%s)", msg.MessageID, st)
		// Why is in the connector's job status (its execution log), when F&O says.
		if js, err := client.JobStatus(ctx, p.Activity, msg.MessageID); err == nil && js.ExecutionLog != "" {
			v.NotImported += ": " + js.ExecutionLog
		}
	case foExec == "":
		v.NotImported = fmt.Sprintf("not imported: F&O reported message %s %s and names no execution for it", msg.MessageID, st)
	default:
		if v, err = s.verdict(ctx, client, p, c, foExec, dmf.StatusPartiallySucceeded); err != nil {
			return s.retryOrFailChunk(ctx, at, c, err)
		}
	}
	return s.conclude(ctx, ex, c, string(st), st == dmf.MessageProcessed || st == dmf.MessageAcked, v)
}
