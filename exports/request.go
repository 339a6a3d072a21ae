package exports

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/jobstep"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Request sends a package export's ExportToPackage (the Async form, or the synchronous
// one where F&O lacks it) under the job's execution id, recorded before the call, then
// the poll. A request that finds its execution recorded asks F&O before sending again:
// an execution F&O knows is followed, never started twice.
func (s *Stages) Request(ctx context.Context, at imports.Attempt, jobID int64) error {
	j, err := s.job(ctx, jobID)
	if err != nil || jobhistory.JobTerminal(j.Status) {
		return err
	}
	p, err := s.admit(ctx, j, StepRequest)
	if err != nil {
		return err
	}
	client, err := s.d.DMF(j.Environment)
	if err != nil {
		return s.FailJob(ctx, j, StepRequest, err)
	}
	hist := s.hist(s.d.DB)
	ex := jobhistory.Execution{ID: ExecutionID(p.Name, j.ID, j.ExecutionNonce), JobID: j.ID, Attempt: 1,
		Environment: j.Environment, DefinitionGroup: p.DefinitionGroup, LegalEntity: p.LegalEntity, Operation: "export"}
	prev, recorded, err := hist.Execution(ctx, ex.ID)
	if err != nil {
		return err
	}
	if recorded && !prev.SubmittedAt.IsZero() {
		return s.submitted(ctx, j, ex.ID, "")
	}
	if recorded {
		// Sent before a crash, or refused: ask F&O before sending again.
		if wait := s.pollWait(prev); wait > 0 {
			return snooze(wait)
		}
		st, err := client.GetExecutionSummaryStatus(s.base.Claimed(ctx, ex.ID, prev.Polls), ex.ID)
		if errors.Is(err, jobstep.ErrTurnTaken) {
			return snooze(s.pollInterval(ex.Environment, prev.Polls+1))
		}
		if rerr := hist.RecordAnswer(ctx, ex.ID, jobstep.StatusSeen(st, err), false, ""); rerr != nil {
			return rerr
		}
		switch {
		case err == nil && st != dmf.StatusUnknown:
			return s.submitted(ctx, j, ex.ID, fmt.Sprintf("execution %s found in F&O (%s) after a crash; not sent again", ex.ID, st))
		case err != nil && !dmf.IsExecutionNotFound(err):
			return s.retryOrFail(ctx, at, j, StepRequest, fmt.Errorf("looking up execution %s before sending it again: %w", ex.ID, err))
		}
		s.event(ctx, j.ID, StepRequest, "warn", fmt.Sprintf("execution %s unknown to F&O: sending it again", ex.ID), nil)
	}
	if err := hist.SetStage(ctx, j.ID, "request"); err != nil {
		return err
	}
	if err := hist.RecordExecution(ctx, ex); err != nil {
		return err
	}
	params := dmf.ExportParams{DefinitionGroupID: p.DefinitionGroup, ExecutionID: ex.ID, PackageName: ex.ID, LegalEntityID: p.LegalEntity}
	action := "ExportToPackageAsync"
	_, err = client.ExportToPackageAsync(ctx, params)
	if dmf.IsActionNotFound(err) {
		action = "ExportToPackage"
		s.event(ctx, j.ID, StepRequest, "info", "F&O has no ExportToPackageAsync: using ExportToPackage, which answers once the export has run", nil)
		_, err = client.ExportToPackage(ctx, params)
	}
	switch {
	case errors.Is(err, dmf.ErrResponseLost):
		return err // the retry asks F&O first
	case err != nil:
		return s.retryOrFail(ctx, at, j, StepRequest, err)
	}
	// The id is ours whatever F&O echoes: an empty or zero-GUID answer (seen while an
	// export is refused or queued) leaves the status calls to tell.
	return s.submitted(ctx, j, ex.ID, fmt.Sprintf("%s of %s (%s) sent as execution %s", action, p.DefinitionGroup, p.LegalEntity, ex.ID))
}

// submitted records that F&O has the export and inserts its poll.
func (s *Stages) submitted(ctx context.Context, j *jobhistory.Job, execID, msg string) error {
	return pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		if err := hist.SetSubmitted(ctx, execID, ""); err != nil {
			return err
		}
		if err := hist.SetStage(ctx, j.ID, "poll"); err != nil {
			return err
		}
		if msg != "" {
			if err := hist.AddEvent(ctx, j.ID, string(StepRequest), "info", msg, map[string]any{"execution": execID}); err != nil {
				return err
			}
		}
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepPoll, Job: j})
	})
}

// Poll follows a package export's execution on the environment's poll schedule until it
// ends; "not found" and Unknown right after the request mean "not registered yet". An
// export that ends Succeeded (or PartiallySucceeded, as on_partial says) goes on to its
// delivery; one that fails ends the job with F&O's first errors.
func (s *Stages) Poll(ctx context.Context, at imports.Attempt, jobID int64) error {
	j, err := s.job(ctx, jobID)
	if err != nil || jobhistory.JobTerminal(j.Status) {
		return err
	}
	p, err := s.admit(ctx, j, StepPoll)
	if err != nil {
		return err
	}
	hist := s.hist(s.d.DB)
	ex, ok, err := hist.Execution(ctx, ExecutionID(p.Name, j.ID, j.ExecutionNonce))
	if err != nil {
		return err
	}
	if !ok {
		return permanent(fmt.Errorf("job %d: its export execution is not recorded", j.ID))
	}
	if ex.FinishedAt.IsZero() {
		if wait := s.pollWait(ex); wait > 0 {
			return snooze(wait)
		}
	}
	client, err := s.d.DMF(ex.Environment)
	if err != nil {
		return err
	}
	st := dmf.ExecutionStatus(ex.DMFStatus)
	if ex.FinishedAt.IsZero() {
		interval := s.pollInterval(ex.Environment, ex.Polls+1)
		elapsed := s.d.Now().Sub(ex.SubmittedAt)
		st, err = client.GetExecutionSummaryStatus(s.base.Claimed(ctx, ex.ID, ex.Polls), ex.ID)
		switch {
		case errors.Is(err, jobstep.ErrTurnTaken):
			return snooze(interval)
		case Pending(st, err, elapsed):
			if err := hist.RecordAnswer(ctx, ex.ID, jobstep.StatusSeen(st, err), false, ""); err != nil {
				return err
			}
			return snooze(interval)
		case err != nil:
			if rerr := hist.RecordAnswer(ctx, ex.ID, "", false, ""); rerr != nil {
				return rerr
			}
			return s.retryOrFail(ctx, at, j, StepPoll, err)
		case !st.Terminal():
			deadline := s.pollSettings(ex.Environment).Deadline.D()
			if elapsed > deadline {
				msg := fmt.Sprintf("execution %s still %s after %s (poll deadline %s)", ex.ID, st, elapsed.Round(time.Second), deadline)
				if err := hist.RecordAnswer(ctx, ex.ID, string(st), true, msg); err != nil {
					return err
				}
				return s.FailJob(ctx, j, StepPoll, fmt.Errorf("%s: %w", msg, dmf.ErrPollDeadline))
			}
			if err := hist.RecordAnswer(ctx, ex.ID, string(st), false, ""); err != nil {
				return err
			}
			if ex.Polls == 0 || st != dmf.ExecutionStatus(ex.DMFStatus) {
				s.event(ctx, j.ID, StepPoll, "info", fmt.Sprintf("execution %s is %s", ex.ID, st), map[string]any{"status": string(st)})
			}
			return snooze(interval)
		}
		if err := hist.RecordAnswer(ctx, ex.ID, string(st), true, ""); err != nil {
			return err
		}
	}
	switch ExportOutcome(st, p.OnPartial) {
	case Fail:
		return s.FailJob(ctx, j, StepPoll, fmt.Errorf("execution %s ended %s%s", ex.ID, st, firstErrors(ctx, client, ex.ID)))
	case DeliverPartial:
		s.event(ctx, j.ID, StepPoll, "warn", fmt.Sprintf("execution %s ended PartiallySucceeded: delivering what F&O exported (on_partial: deliver)%s",
			ex.ID, firstErrors(ctx, client, ex.ID)), nil)
	}
	return s.next(ctx, j, "deliver", Step{Kind: StepDeliver, Job: j, Unit: ex.ID},
		fmt.Sprintf("execution %s %s: delivering its package", ex.ID, st), map[string]any{"status": string(st)})
}

// firstErrors is F&O's first few messages about an execution, for the job's error;
// "" when there are none or they cannot be read.
func firstErrors(ctx context.Context, client *dmf.Client, execID string) string {
	errs, err := client.GetExecutionErrors(ctx, execID)
	if err != nil || len(errs) == 0 {
		return ""
	}
	const show = 5
	msgs := make([]string, 0, show)
	for _, e := range errs[:min(len(errs), show)] {
		msgs = append(msgs, e.Message)
	}
	more := ""
	if len(errs) > show {
		more = fmt.Sprintf("; and %d more", len(errs)-show)
	}
	return ": " + strings.Join(msgs, "; ") + more
}
