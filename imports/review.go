package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// Operators' actions on a job's staged rows, for the console and the CLI alike: edit
// values over a selection of the job's open rows (each edited row is re-validated with
// the project's rules and the entity catalog: fixed when it passes, invalid with its new
// errors when not), or set them aside with a reason. Every action is an entry of the
// job's audit trail, as its actor, with the rows it changed.
//
// An action over a few rows runs in the caller (InlineRows); a larger one runs as a
// background step (StepBulk) a batch at a time, its entry showing its progress, so that
// no request waits for it: an UPDATE of 190k rows takes 3.4 s (measured).

// Action is an operator's action over a job's open rows.
type Action struct {
	// Kind is jobhistory.ActionEdit or jobhistory.ActionReject.
	Kind string `json:"kind"`
	// Filter selects the rows: of those that match, the open ones are acted on.
	Filter staging.Filter `json:"filter"`
	// Set are the values an edit sets.
	Set []staging.FieldValue `json:"set,omitempty"`
	// Reason is why rows are set aside (reject).
	Reason string `json:"reason,omitempty"`
}

// InlineRows is the most rows an action runs over in its caller (Act); a larger one is
// handed to a background step.
const InlineRows = 1000

// bulkBatch is how many rows one batch of an action changes, in one transaction: a
// fraction of a second, so that the rows are never held long and progress shows.
const bulkBatch = 5000

// ErrNothingSelected is returned (wrapped) for an action whose selection holds no open
// row.
var ErrNothingSelected = errors.New("no open row matches")

// check reports what is wrong with an action, before anything is changed.
func (a *Action) check() error {
	switch a.Kind {
	case jobhistory.ActionEdit:
		if len(a.Set) == 0 {
			return fmt.Errorf("%w: an edit sets at least one field", staging.ErrBadFilter)
		}
	case jobhistory.ActionReject:
		if strings.TrimSpace(a.Reason) == "" {
			return fmt.Errorf("%w: setting rows aside needs a reason", staging.ErrBadFilter)
		}
	default:
		return fmt.Errorf("%w: unknown action %q (edit or reject)", staging.ErrBadFilter, a.Kind)
	}
	return nil
}

// entry is the audit entry of an action, to be added.
func (a *Action) entry(actor string, job, matched int64, state string) (jobhistory.Entry, error) {
	sel, err := json.Marshal(a.Filter)
	if err != nil {
		return jobhistory.Entry{}, err
	}
	e := jobhistory.Entry{Job: job, Actor: actor, Action: a.Kind, Selection: sel, Reason: strings.TrimSpace(a.Reason),
		Matched: matched, State: state}
	if len(a.Set) > 0 {
		e.Set = make(map[string]string, len(a.Set))
		for _, v := range a.Set {
			e.Set[v.Field] = v.Value
		}
	}
	return e, nil
}

// actionOf reads an action back from its audit entry.
func actionOf(e *jobhistory.Entry) (Action, error) {
	a := Action{Kind: e.Action, Reason: e.Reason}
	if err := json.Unmarshal(e.Selection, &a.Filter); err != nil {
		return a, fmt.Errorf("reading the selection of audit entry %d: %w", e.ID, err)
	}
	for f, v := range e.Set {
		a.Set = append(a.Set, staging.FieldValue{Field: f, Value: v})
	}
	slices.SortFunc(a.Set, func(x, y staging.FieldValue) int { return strings.Compare(x.Field, y.Field) })
	return a, nil
}

// Act runs action a as actor over job's open rows that match its filter: in the caller
// when they are at most InlineRows (the entry returned is done), else in a background
// step (the entry is pending: follow it with Entry). A selection without an open row is
// an error wrapping ErrNothingSelected.
func (s *Stages) Act(ctx context.Context, actor string, job int64, a Action) (jobhistory.Entry, error) {
	if err := a.check(); err != nil {
		return jobhistory.Entry{}, err
	}
	work, err := s.actionWork(ctx, job, a)
	if err != nil {
		return jobhistory.Entry{}, err
	}
	n, err := staging.NewStore(s.d.DB).Count(ctx, job, work.filter, InlineRows+1)
	if err != nil {
		return jobhistory.Entry{}, err
	}
	if n == 0 {
		return jobhistory.Entry{}, fmt.Errorf("job %d: %w", job, ErrNothingSelected)
	}
	if n <= InlineRows {
		return s.runAction(ctx, actor, job, a, work, n, nil)
	}
	e, err := a.entry(actor, job, 0, jobhistory.EntryPending)
	if err != nil {
		return e, err
	}
	err = pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		if e.ID, err = jobhistory.NewAudit(tx).Add(ctx, e); err != nil {
			return err
		}
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepBulk, Job: work.job, Action: e.ID})
	})
	if err != nil {
		return jobhistory.Entry{}, fmt.Errorf("starting an action on job %d: %w", job, err)
	}
	return jobhistory.NewAudit(s.d.DB).Entry(ctx, e.ID)
}

// RunAction runs action a as actor over job's open rows that match its filter, to its
// end, in the caller (the CLI), a batch at a time; progress, when set, hears the entry
// after each batch.
func (s *Stages) RunAction(ctx context.Context, actor string, job int64, a Action, progress func(jobhistory.Entry)) (jobhistory.Entry, error) {
	if err := a.check(); err != nil {
		return jobhistory.Entry{}, err
	}
	work, err := s.actionWork(ctx, job, a)
	if err != nil {
		return jobhistory.Entry{}, err
	}
	n, err := staging.NewStore(s.d.DB).Count(ctx, job, work.filter, 0)
	if err != nil {
		return jobhistory.Entry{}, err
	}
	if n == 0 {
		return jobhistory.Entry{}, fmt.Errorf("job %d: %w", job, ErrNothingSelected)
	}
	return s.runAction(ctx, actor, job, a, work, n, progress)
}

// EditRow sets values on one open row of a job as actor, re-validates it and returns it
// as it now is, with the action's audit entry. A row that is not open is an error
// wrapping staging.ErrNotEditable.
func (s *Stages) EditRow(ctx context.Context, actor string, job, row int64, set []staging.FieldValue) (staging.StagedRow, jobhistory.Entry, error) {
	return s.actOnRow(ctx, actor, job, row, Action{Kind: jobhistory.ActionEdit, Set: set})
}

// RejectRow sets one open row of a job aside as actor, with reason.
func (s *Stages) RejectRow(ctx context.Context, actor string, job, row int64, reason string) (staging.StagedRow, jobhistory.Entry, error) {
	return s.actOnRow(ctx, actor, job, row, Action{Kind: jobhistory.ActionReject, Reason: reason})
}

func (s *Stages) actOnRow(ctx context.Context, actor string, job, row int64, a Action) (staging.StagedRow, jobhistory.Entry, error) {
	store := staging.NewStore(s.d.DB)
	r, err := store.Row(ctx, job, row)
	if err != nil {
		return r, jobhistory.Entry{}, err
	}
	if !staging.IsOpen(r.Status) {
		return r, jobhistory.Entry{}, fmt.Errorf("job %d row %d is %s: %w", job, row, r.Status, staging.ErrNotEditable)
	}
	a.Filter = staging.Filter{Rows: []int64{row}}
	e, err := s.Act(ctx, actor, job, a)
	if err != nil {
		return r, e, err
	}
	r, err = store.Row(ctx, job, row)
	return r, e, err
}

// Entry returns an audit entry: where a background action stands.
func (s *Stages) Entry(ctx context.Context, id int64) (jobhistory.Entry, error) {
	return jobhistory.NewAudit(s.d.DB).Entry(ctx, id)
}

// Bulk is the background step of an action (Act): it works through the action's batches
// from where its entry says it stopped, recording each batch's rows and progress with
// it, and ends the entry done (or failed, for a selection that no longer applies).
func (s *Stages) Bulk(ctx context.Context, _ Attempt, id int64) error {
	audit := jobhistory.NewAudit(s.d.DB)
	e, err := audit.Entry(ctx, id)
	if errors.Is(err, jobhistory.ErrEntryNotFound) {
		return permanent(err)
	}
	if err != nil || e.Done() {
		return err
	}
	fail := func(err error) error {
		if serr := audit.SetState(context.WithoutCancel(ctx), id, jobhistory.EntryFailed, err.Error()); serr != nil {
			return serr
		}
		return permanent(err)
	}
	a, err := actionOf(&e)
	if err != nil {
		return fail(err)
	}
	work, err := s.actionWork(ctx, e.Job, a)
	if errors.Is(err, staging.ErrBadFilter) || errors.Is(err, staging.ErrNoJob) || errors.Is(err, jobhistory.ErrJobNotFound) {
		return fail(err)
	}
	if err != nil {
		return err
	}
	if e.State == jobhistory.EntryPending {
		n, err := staging.NewStore(s.d.DB).Count(ctx, e.Job, work.filter, 0)
		if err != nil {
			return err
		}
		if err := audit.Start(ctx, id, n); err != nil {
			return err
		}
	}
	if err := s.batches(ctx, &e, a, work, nil); err != nil {
		if errors.Is(err, staging.ErrBadFilter) {
			return fail(err)
		}
		return err
	}
	return nil
}

// work is what an action needs to run: its job, its filter restricted to open rows and,
// for an edit, how edited rows are re-validated.
type work struct {
	job     *jobhistory.Job
	filter  staging.Filter
	recheck staging.Recheck
}

func (s *Stages) actionWork(ctx context.Context, job int64, a Action) (work, error) {
	j, err := s.hist(s.d.DB).Job(ctx, job)
	if err != nil {
		return work{}, err
	}
	w := work{job: j, filter: a.Filter}
	if len(w.filter.Statuses) == 0 {
		w.filter.Statuses = staging.OpenStatuses
	}
	for _, st := range w.filter.Statuses {
		if !staging.IsOpen(st) {
			return work{}, fmt.Errorf("%w: %s rows are not open: only %s rows can be changed", staging.ErrBadFilter, st, openList())
		}
	}
	l, err := staging.NewStore(s.d.DB).Layout(ctx, job)
	if err != nil {
		return work{}, err
	}
	if a.Kind != jobhistory.ActionEdit {
		return w, nil
	}
	p, err := s.d.Projects(j.Project)
	if err != nil {
		return work{}, fmt.Errorf("re-validating the rows of job %d needs its project: %w", job, err)
	}
	w.recheck = Recheck(p, l)
	return w, nil
}

func openList() string {
	names := make([]string, len(staging.OpenStatuses))
	for i, st := range staging.OpenStatuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// runAction records an action's entry (running, matched rows) and runs its batches in
// the caller.
func (s *Stages) runAction(ctx context.Context, actor string, job int64, a Action, w work, matched int64, progress func(jobhistory.Entry)) (jobhistory.Entry, error) {
	e, err := a.entry(actor, job, matched, jobhistory.EntryRunning)
	if err != nil {
		return e, err
	}
	audit := jobhistory.NewAudit(s.d.DB)
	if e.ID, err = audit.Add(ctx, e); err != nil {
		return e, err
	}
	if err := s.batches(ctx, &e, a, w, progress); err != nil {
		// What the batches did so far is recorded; the entry says it stopped.
		_ = audit.SetState(context.WithoutCancel(ctx), e.ID, jobhistory.EntryFailed, err.Error())
		return e, err
	}
	return audit.Entry(ctx, e.ID)
}

// batches runs an action's batches after its entry's last row until none is left, each
// in a transaction with its audit rows and progress, then ends the entry done.
func (s *Stages) batches(ctx context.Context, e *jobhistory.Entry, a Action, w work, progress func(jobhistory.Entry)) error {
	audit := jobhistory.NewAudit(s.d.DB)
	after := e.LastRow
	for {
		var b staging.Batch
		err := pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
			store := staging.NewStore(tx)
			var err error
			if a.Kind == jobhistory.ActionEdit {
				b, err = store.EditBatch(ctx, e.Job, w.filter, slices.Clone(a.Set), w.recheck, after, bulkBatch)
			} else {
				b, err = store.RejectBatch(ctx, e.Job, w.filter, a.Reason, after, bulkBatch)
			}
			if err != nil || len(b.Changes) == 0 {
				return err
			}
			changes := make([]jobhistory.RowChange, len(b.Changes))
			for i, c := range b.Changes {
				changes[i] = jobhistory.RowChange{Row: c.Row, Before: c.Before, From: string(c.From), To: string(c.To)}
			}
			return jobhistory.NewAudit(tx).AddRows(ctx, e.ID, e.Job, changes, b.Last)
		})
		if err != nil {
			return fmt.Errorf("%s on job %d: %w", a.Kind, e.Job, err)
		}
		if progress != nil && len(b.Changes) > 0 {
			if cur, err := audit.Entry(ctx, e.ID); err == nil {
				progress(cur)
			}
		}
		if !b.More {
			break
		}
		after = b.Last
	}
	if err := audit.SetState(ctx, e.ID, jobhistory.EntryDone, ""); err != nil {
		return err
	}
	done, err := audit.Entry(ctx, e.ID)
	if err != nil {
		return err
	}
	verb := map[string]string{jobhistory.ActionEdit: "edited", jobhistory.ActionReject: "set aside"}[a.Kind]
	rows := "rows"
	if done.Rows == 1 {
		rows = "row"
	}
	s.operatorEvent(ctx, e.Actor, e.Job, "info", fmt.Sprintf("%d %s %s by %s (audit entry %d)", done.Rows, rows, verb, e.Actor, e.ID),
		map[string]any{"entry": e.ID, "rows": done.Rows})
	return nil
}

// operatorEvent records an entry of a job's timeline by an operator; a failure to record
// it is logged (the audit trail has the action).
func (s *Stages) operatorEvent(ctx context.Context, actor string, job int64, level, msg string, attrs map[string]any) {
	if err := jobhistory.NewStore(s.d.DB).As(actor).AddEvent(ctx, job, "review", level, msg, attrs); err != nil {
		s.d.Log.Warn("recording a job event", "job", job, "err", err)
	}
}

// Recheck is how rows of project p edited by operators are re-validated, for a job whose
// rows have layout l: the project's row rules (with the catalog's types, lengths and
// mandatory fields), its reference lists and its unique rules. Fields of the job that the
// project no longer has are not checked; fields it has that the job lacks are empty.
func Recheck(p *Project, l staging.Layout) staging.Recheck {
	if p.Rules == nil {
		return staging.Recheck{}
	}
	ruleFields := p.Rules.Fields()
	at := make([]int, len(ruleFields)) // each rule field's position in the job's values
	for i, f := range ruleFields {
		at[i] = slices.Index(l.Fields, f)
	}
	type lookup struct {
		pos       int
		field     string
		reference string
		values    map[string]bool
	}
	var lookups []lookup
	for _, spec := range p.Sets.Lookups {
		pos := slices.Index(l.Fields, spec.Field)
		if pos < 0 {
			continue
		}
		lu := lookup{pos: pos, field: spec.Field, reference: spec.Reference, values: make(map[string]bool, len(spec.Values))}
		for _, v := range spec.Values {
			lu.values[v] = true
		}
		lookups = append(lookups, lu)
	}
	var unique [][]string
	for _, fields := range p.Sets.Unique {
		if !slices.ContainsFunc(fields, func(f string) bool { return !slices.Contains(l.Fields, f) }) {
			unique = append(unique, fields)
		}
	}
	rules := p.Rules
	return staging.Recheck{
		Row: func(vals []string, no, line int64) []validate.Error {
			row := make([]string, len(ruleFields))
			for i, pos := range at {
				if pos >= 0 && pos < len(vals) {
					row[i] = vals[pos]
				}
			}
			errs := rules.Check(row, no, line, nil)
			for _, lu := range lookups {
				if v := vals[lu.pos]; v != "" && !lu.values[v] {
					// The same words as the set rule's SQL (staging.Store.Lookup).
					errs = append(errs, validate.Error{Row: no, Line: line, Field: lu.field, Rule: validate.RuleLookup,
						Msg: fmt.Sprintf("%s is not in %s", quoteLiteral(v), lu.reference)})
				}
			}
			return errs
		},
		Unique: unique,
	}
}

// quoteLiteral quotes s as Postgres's quote_literal does.
func quoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
	if strings.Contains(s, `\`) {
		return "E" + q
	}
	return q
}
