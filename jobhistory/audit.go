package jobhistory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The audit trail (tables audit_entries and audit_rows, migration 00007): every change an
// operator makes to a job, with who, when and what. One entry per action: a single row's
// edit, a bulk edit or rejection (with its selection and the number of rows it changed),
// a resubmission, a retry, a cancellation. The rows an edit or rejection changed are
// listed under its entry with the values it replaced and their status before and after,
// so that a row's history reads its entries, and a job's the entries alone. A bulk action
// that runs in the background is its entry too: running while it works through its
// batches (Progress), done or failed at its end.

// The actions of the audit trail.
const (
	ActionEdit     = "edit"
	ActionReject   = "reject"
	ActionResubmit = "resubmit"
	ActionRetry    = "retry"
	ActionCancel   = "cancel"
)

// The states of an entry.
const (
	EntryPending = "pending" // a bulk action waiting for its background step
	EntryRunning = "running"
	EntryDone    = "done"
	EntryFailed  = "failed"
)

// ErrEntryNotFound is returned (wrapped) for an audit entry that does not exist.
var ErrEntryNotFound = errors.New("audit entry not found")

// Entry is one action in a job's audit trail.
type Entry struct {
	ID     int64     `json:"id"`
	Job    int64     `json:"job"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	// Selection is which rows the action was for (a staging.Filter), null for a whole
	// job.
	Selection json.RawMessage `json:"selection,omitempty"`
	// Set are the values an edit set, by field.
	Set    map[string]string `json:"set,omitempty"`
	Reason string            `json:"reason,omitempty"`
	// Matched is how many rows the selection held when the action started; Rows how many
	// it has changed.
	Matched int64  `json:"matched"`
	Rows    int64  `json:"rows"`
	State   string `json:"state"`
	// LastRow is the last row a bulk action has dealt with.
	LastRow    int64          `json:"last_row,omitempty"`
	Error      string         `json:"error,omitempty"`
	Attrs      map[string]any `json:"attrs,omitempty"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
}

// Done reports whether the entry's action has ended.
func (e *Entry) Done() bool { return e.State == EntryDone || e.State == EntryFailed }

// RowChange is what an entry did to one row.
type RowChange struct {
	Row int64 `json:"row"`
	// Before are the values the action replaced, by field: only those it changed.
	Before map[string]string `json:"before,omitempty"`
	From   string            `json:"from"`
	To     string            `json:"to"`
}

// RowEntry is an entry with what it did to one row.
type RowEntry struct {
	Entry
	Change RowChange `json:"change"`
}

// Audit is the audit trail in a database.
type Audit struct {
	db DBTX
}

// NewAudit returns the audit trail in db (a pool, a connection or a transaction).
func NewAudit(db DBTX) *Audit { return &Audit{db: db} }

// Add records an action: e's Job, Actor, Action, Selection, Set, Reason, Matched,
// Rows, State (done when empty) and Attrs. It returns the entry's id.
func (a *Audit) Add(ctx context.Context, e Entry) (int64, error) {
	if e.Actor == "" {
		return 0, fmt.Errorf("recording an action on job %d: who acted is required", e.Job)
	}
	if e.State == "" {
		e.State = EntryDone
	}
	var selection any
	if len(e.Selection) > 0 {
		selection = e.Selection
	}
	var id int64
	err := a.db.QueryRow(ctx, `
		INSERT INTO audit_entries (job_id, actor, action, selection, set_values, reason, matched, rows, state, attrs, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $9 IN ('done', 'failed') THEN now() END)
		RETURNING id`,
		e.Job, e.Actor, e.Action, selection, nilIfEmpty(e.Set), nullString(e.Reason), e.Matched, e.Rows, e.State, nilIfEmpty(e.Attrs)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording an action on job %d: %w", e.Job, err)
	}
	return id, nil
}

func nilIfEmpty[M ~map[K]V, K comparable, V any](m M) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// AddRows records what an entry did to rows of its job, adds them to its count and
// moves its last row to last.
func (a *Audit) AddRows(ctx context.Context, entry, job int64, changes []RowChange, last int64) error {
	if len(changes) > 0 {
		nos := make([]int64, len(changes))
		before := make([]*string, len(changes))
		from, to := make([]string, len(changes)), make([]string, len(changes))
		for i, c := range changes {
			nos[i], from[i], to[i] = c.Row, c.From, c.To
			if len(c.Before) > 0 {
				b, err := json.Marshal(c.Before)
				if err != nil {
					return err
				}
				s := string(b)
				before[i] = &s
			}
		}
		if _, err := a.db.Exec(ctx, `INSERT INTO audit_rows (entry_id, job_id, row_no, before, from_status, to_status)
			SELECT $1, $2, r.row_no, r.before::jsonb, r.from_status, r.to_status
			FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[]) AS r(row_no, before, from_status, to_status)
			ON CONFLICT (entry_id, row_no) DO NOTHING`, entry, job, nos, before, from, to); err != nil {
			return fmt.Errorf("recording the rows of audit entry %d: %w", entry, err)
		}
	}
	tag, err := a.db.Exec(ctx, `UPDATE audit_entries SET rows = rows + $2, last_row = greatest(last_row, $3) WHERE id = $1`,
		entry, len(changes), last)
	if err != nil {
		return fmt.Errorf("recording the rows of audit entry %d: %w", entry, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("audit entry %d: %w", entry, ErrEntryNotFound)
	}
	return nil
}

// Start records that a pending entry's action has started, over matched rows.
func (a *Audit) Start(ctx context.Context, entry, matched int64) error {
	tag, err := a.db.Exec(ctx, `UPDATE audit_entries SET state = 'running', matched = $2 WHERE id = $1`, entry, matched)
	if err != nil {
		return fmt.Errorf("starting audit entry %d: %w", entry, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("audit entry %d: %w", entry, ErrEntryNotFound)
	}
	return nil
}

// SetState records where an entry's action stands: running, or ended (done, or failed
// with errMsg).
func (a *Audit) SetState(ctx context.Context, entry int64, state, errMsg string) error {
	tag, err := a.db.Exec(ctx, `UPDATE audit_entries SET state = $2, error = $3,
		finished_at = CASE WHEN $2 IN ('done', 'failed') THEN now() END WHERE id = $1`, entry, state, nullString(errMsg))
	if err != nil {
		return fmt.Errorf("recording the state of audit entry %d: %w", entry, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("audit entry %d: %w", entry, ErrEntryNotFound)
	}
	return nil
}

// auditColumns are what scanAudit reads, of audit_entries as e.
const auditColumns = `e.id, e.job_id, e.at, e.actor, e.action, e.selection, e.set_values, coalesce(e.reason, ''), e.matched,
	e.rows, e.state, e.last_row, coalesce(e.error, ''), e.attrs, e.finished_at`

func scanAudit(row pgx.Row, extra ...any) (Entry, error) {
	var (
		e        Entry
		selected []byte
		finished *time.Time
	)
	err := row.Scan(append([]any{&e.ID, &e.Job, &e.At, &e.Actor, &e.Action, &selected, &e.Set, &e.Reason, &e.Matched, &e.Rows,
		&e.State, &e.LastRow, &e.Error, &e.Attrs, &finished}, extra...)...)
	if len(selected) > 0 {
		e.Selection = json.RawMessage(selected)
	}
	if finished != nil {
		e.FinishedAt = *finished
	}
	return e, err
}

// Outcomes counts the rows an entry changed by the status it left them in.
func (a *Audit) Outcomes(ctx context.Context, entry int64) (map[string]int64, error) {
	rows, err := a.db.Query(ctx, `SELECT to_status, count(*) FROM audit_rows WHERE entry_id = $1 GROUP BY to_status`, entry)
	if err != nil {
		return nil, fmt.Errorf("reading the rows of audit entry %d: %w", entry, err)
	}
	out := map[string]int64{}
	var (
		st string
		n  int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&st, &n}, func() error { out[st] = n; return nil }); err != nil {
		return nil, fmt.Errorf("reading the rows of audit entry %d: %w", entry, err)
	}
	return out, nil
}

// Entry returns one entry.
func (a *Audit) Entry(ctx context.Context, id int64) (Entry, error) {
	e, err := scanAudit(a.db.QueryRow(ctx, `SELECT `+auditColumns+` FROM audit_entries e WHERE e.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("audit entry %d: %w", id, ErrEntryNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("reading audit entry %d: %w", id, err)
	}
	return e, nil
}

// JobEntries returns up to limit entries of a job with an id below before (0: from the
// newest), newest first: pass the last one's id for the next page.
func (a *Audit) JobEntries(ctx context.Context, job, before int64, limit int) ([]Entry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := a.db.Query(ctx, `SELECT `+auditColumns+` FROM audit_entries e WHERE e.job_id = $1 AND e.id < $2
		ORDER BY e.id DESC LIMIT $3`, job, before, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of job %d: %w", job, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) { return scanAudit(r) })
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of job %d: %w", job, err)
	}
	return out, nil
}

// RowEntries returns the entries that changed one row of a job, oldest first, each with
// what it did to the row.
func (a *Audit) RowEntries(ctx context.Context, job, row int64) ([]RowEntry, error) {
	rows, err := a.db.Query(ctx, `SELECT `+auditColumns+`, r.row_no, r.before, r.from_status, r.to_status
		FROM audit_rows r JOIN audit_entries e ON e.id = r.entry_id
		WHERE r.job_id = $1 AND r.row_no = $2 ORDER BY r.entry_id`, job, row)
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of job %d row %d: %w", job, row, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RowEntry, error) {
		var re RowEntry
		e, err := scanAudit(r, &re.Change.Row, &re.Change.Before, &re.Change.From, &re.Change.To)
		re.Entry = e
		return re, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of job %d row %d: %w", job, row, err)
	}
	return out, nil
}
