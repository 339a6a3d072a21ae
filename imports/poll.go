package imports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// notFoundGrace is how long after submitting a 400 "not found" from
// GetExecutionSummaryStatus still means "not registered yet" (dmf-api.md §2.5).
const notFoundGrace = 5 * time.Minute

// pollSettings are an environment's poll settings.
func (s *Stages) pollSettings(env string) config.Poll { return s.base.PollSettings(env) }

// pollInterval is the wait after the n-th status call of an execution of env.
func (s *Stages) pollInterval(env string, n int) time.Duration { return s.base.PollInterval(env, n) }

// pollWait is how long a status call of ex must still wait to keep to its poll schedule.
func (s *Stages) pollWait(ex jobhistory.Execution) time.Duration { return s.base.PollWait(ex) }

// claimed returns ctx whose F&O calls are claimed in execution id's poll schedule
// (jobstep.Base.Claimed).
func (s *Stages) claimed(ctx context.Context, id string, seen int) context.Context {
	return s.base.Claimed(ctx, id, seen)
}

// Poll follows a chunk's execution until it ends and brings F&O's verdict back to the
// chunk's rows: imported, rejected with F&O's messages where they can be placed with
// certainty (Judge), or not imported when the execution failed.
func (s *Stages) Poll(ctx context.Context, at Attempt, execID string) error {
	hist := s.hist(s.d.DB)
	ex, ok, err := hist.Execution(ctx, execID)
	if err != nil {
		return err
	}
	if !ok {
		return permanent(fmt.Errorf("execution %s is not recorded", execID))
	}
	c, err := hist.Chunk(ctx, ex.JobID, ex.ChunkNo)
	if err != nil {
		return err
	}
	if jobhistory.ChunkTerminal(c.Status) {
		return nil
	}
	j, err := s.job(ctx, ex.JobID)
	if err != nil {
		return err
	}
	p, err := s.admit(ctx, j, StepPoll)
	if err != nil {
		return err
	}
	if p.Recurring() {
		return s.pollMessage(ctx, at, p, c, ex) // recurring.go
	}
	if wait := s.pollWait(ex); wait > 0 {
		return snooze(wait)
	}
	client, err := s.d.DMF(ex.Environment)
	if err != nil {
		return err
	}
	settings := s.pollSettings(ex.Environment)
	interval := s.pollInterval(ex.Environment, ex.Polls+1)
	elapsed := s.d.Now().Sub(ex.SubmittedAt)
	st, err := client.GetExecutionSummaryStatus(s.claimed(ctx, ex.ID, ex.Polls), ex.ID)
	if errors.Is(err, jobstep.ErrTurnTaken) {
		return snooze(interval)
	}
	if err != nil {
		if rerr := hist.RecordAnswer(ctx, ex.ID, jobstep.StatusSeen(st, err), false, ""); rerr != nil {
			return rerr
		}
		if dmf.IsExecutionNotFound(err) && elapsed < notFoundGrace {
			return snooze(interval)
		}
		return s.retryOrFailChunk(ctx, at, c, fmt.Errorf("asking F&O how execution %s went (whether it imported its rows is unknown until F&O answers): %w", ex.ID, err))
	}
	if !st.Terminal() {
		if elapsed > settings.Deadline.D() {
			msg := fmt.Sprintf("execution %s still %s after %s (poll deadline %s): whether F&O imported its rows is unknown; "+
				"look the execution up in F&O before resubmitting them", ex.ID, st, elapsed.Round(time.Second), settings.Deadline)
			if err := hist.RecordAnswer(ctx, ex.ID, string(st), true, msg); err != nil {
				return err
			}
			return s.FailChunk(ctx, c, fmt.Errorf("%s: %w", msg, dmf.ErrPollDeadline))
		}
		if err := hist.RecordAnswer(ctx, ex.ID, string(st), false, ""); err != nil {
			return err
		}
		if ex.Polls == 0 || st != dmf.ExecutionStatus(ex.DMFStatus) {
			s.event(ctx, j.ID, StepPoll, "info", fmt.Sprintf("chunk %d: execution %s is %s", c.No, ex.ID, st),
				map[string]any{"chunk": c.No, "execution": ex.ID, "status": string(st)})
		}
		return snooze(interval)
	}

	var v Verdict
	if st != dmf.StatusSucceeded {
		if v, err = s.verdict(ctx, client, p, c, ex.ID, st); err != nil {
			return s.retryOrFailChunk(ctx, at, c, err)
		}
	}
	return s.conclude(ctx, ex, c, string(st), st == dmf.StatusSucceeded, v)
}

// conclude ends a chunk on F&O's final answer about its execution ex: status as F&O
// spelled it (recorded on the execution), clean when it was an unqualified success, and
// the verdict on the chunk's rows. The chunk's rows are rejected, not imported or
// imported as the verdict says, the chunk ends, and the job's finalize follows its last
// chunk, in one transaction.
func (s *Stages) conclude(ctx context.Context, ex jobhistory.Execution, c jobhistory.Chunk, status string, clean bool, v Verdict) error {
	return pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist, store := s.hist(tx), s.staging(tx)
		if err := hist.RecordAnswer(ctx, ex.ID, status, true, ""); err != nil {
			return err
		}
		if c, err := hist.LockChunk(ctx, c.JobID, c.No); err != nil || jobhistory.ChunkTerminal(c.Status) {
			return err // ended meanwhile (failed by its upload, or by another poll)
		}
		if _, err := store.RejectWithErrors(ctx, c.JobID, staging.RuleFO, v.Errors); err != nil {
			return err
		}
		var notImported int64
		if v.NotImported != "" {
			var err error
			if notImported, err = store.MarkNotImported(ctx, c.JobID, c.FirstRow, c.LastRow,
				[]staging.Status{staging.StatusUploaded}, v.NotImported); err != nil {
				return err
			}
		}
		if _, err := store.SetStatus(ctx, c.JobID, c.FirstRow, c.LastRow, staging.StatusImported, staging.StatusUploaded); err != nil {
			return err
		}
		// The chunk's end follows F&O's answer, not the rows moved now: a poll run again
		// after a crash finds them moved already.
		imported := max(c.RowCount-v.Rejected, 0)
		if v.NotImported != "" {
			imported = 0
		}
		chunkStatus := jobhistory.ChunkSucceeded
		switch {
		case imported == 0:
			chunkStatus = jobhistory.ChunkFailed
		case v.Rejected > 0 || !clean:
			chunkStatus = jobhistory.ChunkPartiallySucceeded
		}
		if err := hist.SetChunkStatus(ctx, c.JobID, c.No, chunkStatus, chunkMessage(v.Unplaced)); err != nil {
			return err
		}
		level := "info"
		if chunkStatus != jobhistory.ChunkSucceeded {
			level = "warn"
		}
		msg := fmt.Sprintf("chunk %d: execution %s %s: %d imported, %d rejected", c.No, ex.ID, status, imported, v.Rejected)
		if notImported > 0 {
			msg += fmt.Sprintf(", %d not imported", notImported)
		}
		if len(v.Unplaced) > 0 {
			msg += fmt.Sprintf("; %d messages of F&O name no row: %s", len(v.Unplaced), chunkMessage(v.Unplaced))
		}
		if err := hist.AddEvent(ctx, c.JobID, string(StepPoll), level, msg,
			map[string]any{"chunk": c.No, "execution": ex.ID, "status": status, "polls": ex.Polls + 1}); err != nil {
			return err
		}
		return s.finalizeIfDone(ctx, tx, c.JobID)
	})
}

// chunkMessage is F&O's messages that name no row, for the chunk's error: the first few,
// bounded.
func chunkMessage(unplaced []string) string {
	const show, limit = 5, 2000
	msg := strings.Join(unplaced[:min(len(unplaced), show)], "; ")
	if len(unplaced) > show {
		msg += fmt.Sprintf("; and %d more", len(unplaced)-show)
	}
	if len(msg) > limit {
		msg = msg[:limit] + "…"
	}
	return msg
}

// verdict collects what F&O reports about a chunk's execution (GetExecutionErrors and the
// entity's error files) and places it on the chunk's rows.
func (s *Stages) verdict(ctx context.Context, client *dmf.Client, p *Project, c jobhistory.Chunk, execID string, st dmf.ExecutionStatus) (Verdict, error) {
	rep, err := client.CollectErrors(ctx, execID, []string{p.Entity.DMFName})
	if err != nil {
		return Verdict{}, fmt.Errorf("collecting the errors of execution %s: %w", execID, err)
	}
	a := Answer{Execution: execID, Status: st, Messages: rep.Errors}
	for _, f := range rep.Files {
		var buf bytes.Buffer
		if _, err := client.DownloadBlob(ctx, f.URL, &buf); err != nil {
			return Verdict{}, fmt.Errorf("downloading the %s of execution %s: %w", fileName(f.Kind), execID, err)
		}
		ef, err := readErrorFile(&buf, f.Kind)
		if err != nil {
			return Verdict{}, fmt.Errorf("reading the %s of execution %s: %w", fileName(f.Kind), execID, err)
		}
		a.Files = append(a.Files, ef)
	}
	layout, err := s.staging(s.d.DB).Layout(ctx, c.JobID)
	if err != nil {
		return Verdict{}, err
	}
	keys := p.KeyFields()
	pos := make([]int, len(keys))
	for i, k := range keys {
		pos[i] = -1
		for f, name := range layout.Fields {
			if strings.EqualFold(name, k.Name) {
				pos[i] = f
			}
		}
	}
	var rows []KeyedRow
	err = s.staging(s.d.DB).EachRow(ctx, c.JobID, c.FirstRow, c.LastRow, []staging.Status{staging.StatusUploaded}, func(no int64, vals []string) error {
		key := make([]string, len(pos))
		for i, at := range pos {
			if at >= 0 && at < len(vals) {
				key[i] = vals[at]
			}
		}
		rows = append(rows, KeyedRow{No: no, Key: key})
		return nil
	})
	if err != nil {
		return Verdict{}, err
	}
	return Judge(a, keys, rows), nil
}

// readErrorFile reads a downloaded error file whole: it lists only the rows that failed,
// at most a chunk's.
func readErrorFile(r io.Reader, kind dmf.ErrorFileKind) (ErrorFile, error) {
	rd, err := dmf.NewErrorFileReader(r)
	if err != nil {
		return ErrorFile{}, err
	}
	f := ErrorFile{Kind: kind, Header: rd.Header()}
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return ErrorFile{}, err
		}
		f.Records = append(f.Records, slices.Clone(rec.Values))
	}
}
