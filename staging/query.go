package staging

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/validate"
)

// StagedRow is a row as the console shows it.
type StagedRow struct {
	No     int64    `json:"row"`
	Line   int64    `json:"line"`
	Status Status   `json:"status"`
	Values []string `json:"values"`
	Raw    []string `json:"raw"`
	// Errors are the row's open errors: those no operator has dealt with yet.
	Errors []validate.Error `json:"errors,omitempty"`
	// Resolved are the errors the row had before an operator fixed or set it aside, or
	// before a later attempt sent it again; only Row fills them in.
	Resolved []validate.Error `json:"resolved,omitempty"`
	// Reason is why an operator set the row aside (status skipped).
	Reason string `json:"reason,omitempty"`
	// Attempt is the job attempt that last sent the row to F&O again (2 and up); 0 for a
	// row never sent again.
	Attempt int `json:"attempt,omitempty"`
}

// MaxPage caps the rows or errors one page returns.
const MaxPage = 1000

func pageSize(limit int) int {
	if limit <= 0 || limit > MaxPage {
		return MaxPage
	}
	return limit
}

const rowColumns = "row_no, line, status, vals, raw, coalesce(reason, ''), coalesce(attempt, 0)"

// storedRow is a row as stored: the columns of rowColumns.
type storedRow struct {
	no, line int64
	status   Status
	vals     string
	raw      *string
	reason   string
	attempt  int
}

func scanStored(row pgx.Row) (storedRow, error) {
	var r storedRow
	err := row.Scan(&r.no, &r.line, &r.status, &r.vals, &r.raw, &r.reason, &r.attempt)
	return r, err
}

// staged decodes a stored row of layout l.
func (r *storedRow) staged(l *Layout) (StagedRow, error) {
	out := StagedRow{No: r.no, Line: r.line, Status: r.status, Values: splitVals(r.vals), Reason: r.reason, Attempt: r.attempt}
	var err error
	if out.Raw, err = decodeRaw(r.raw, out.Values, l); err != nil {
		return out, fmt.Errorf("reading row %d: %w", r.no, err)
	}
	return out, nil
}

// withErrors decodes stored rows and reads their open errors (and, with resolved, the
// resolved ones too).
func (s *Store) withErrors(ctx context.Context, job int64, l *Layout, stored []storedRow, resolved bool) ([]StagedRow, error) {
	out := make([]StagedRow, len(stored))
	byNo := make(map[int64]int, len(stored))
	nos := make([]int64, len(stored))
	for i := range stored {
		r, err := stored[i].staged(l)
		if err != nil {
			return nil, fmt.Errorf("reading staged rows of job %d: %w", job, err)
		}
		out[i], byNo[r.No], nos[i] = r, i, r.No
	}
	if len(out) == 0 {
		return out, nil
	}
	q := "SELECT row_no, field, rule, col, message, resolved FROM " + errorsTable(job) + " WHERE row_no = ANY($1)"
	if !resolved {
		q += " AND NOT resolved"
	}
	erows, err := s.db.Query(ctx, q+" ORDER BY row_no, field, rule", nos)
	if err != nil {
		return nil, fmt.Errorf("reading errors of job %d: %w", job, err)
	}
	defer erows.Close()
	for erows.Next() {
		var (
			e    validate.Error
			done bool
		)
		if err := erows.Scan(&e.Row, &e.Field, &e.Rule, &e.Column, &e.Msg, &done); err != nil {
			return nil, fmt.Errorf("reading errors of job %d: %w", job, err)
		}
		r := &out[byNo[e.Row]]
		e.Line, e.Sheet = r.Line, l.Sheet
		if done {
			r.Resolved = append(r.Resolved, e)
		} else {
			r.Errors = append(r.Errors, e)
		}
	}
	if err := erows.Err(); err != nil {
		return nil, fmt.Errorf("reading errors of job %d: %w", job, err)
	}
	return out, nil
}

// Rows returns up to limit rows of a job with the given status (any status when empty)
// and a row number above after, in row order, with their open errors. Pass the last
// row's number as after to get the next page.
func (s *Store) Rows(ctx context.Context, job int64, status Status, after int64, limit int) ([]StagedRow, error) {
	var f Filter
	if status != "" {
		f.Statuses = []Status{status}
	}
	return s.RowPage(ctx, job, f, after, limit)
}

// Row returns one row of a job, with its open and its resolved errors.
func (s *Store) Row(ctx context.Context, job, no int64) (StagedRow, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return StagedRow{}, err
	}
	r, err := scanStored(s.db.QueryRow(ctx, "SELECT "+rowColumns+" FROM "+rowsTable(job)+" WHERE row_no = $1", no))
	if errors.Is(err, pgx.ErrNoRows) {
		return StagedRow{}, fmt.Errorf("job %d row %d: %w", job, no, ErrNoRow)
	}
	if err != nil {
		return StagedRow{}, fmt.Errorf("reading row %d of job %d: %w", no, job, err)
	}
	out, err := s.withErrors(ctx, job, &l, []storedRow{r}, true)
	if err != nil {
		return StagedRow{}, err
	}
	return out[0], nil
}

// Errors returns up to limit open errors of one field and rule with a row number above
// after, in row order (one per row: the first by message when a row has several).
func (s *Store) Errors(ctx context.Context, job int64, field string, rule validate.Rule, after int64, limit int) ([]validate.Error, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT ON (e.row_no) e.row_no, r.line, e.field, e.rule, e.col, e.message
		FROM `+errorsTable(job)+` e JOIN `+rowsTable(job)+` r USING (row_no)
		WHERE e.field = $1 AND e.rule = $2 AND e.row_no > $3 AND NOT e.resolved
		ORDER BY e.row_no, e.message LIMIT $4`, field, rule, after, pageSize(limit))
	return collectErrors(rows, err, job, l.Sheet)
}

// FirstErrors returns a job's first open errors in row order.
func (s *Store) FirstErrors(ctx context.Context, job int64, limit int) ([]validate.Error, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT e.row_no, r.line, e.field, e.rule, e.col, e.message
		FROM `+errorsTable(job)+` e JOIN `+rowsTable(job)+` r USING (row_no)
		WHERE NOT e.resolved
		ORDER BY e.row_no, e.field, e.rule LIMIT $1`, pageSize(limit))
	return collectErrors(rows, err, job, l.Sheet)
}

// collectErrors reads the rows of an error query (row_no, line, field, rule, col, message).
func collectErrors(rows pgx.Rows, err error, job int64, sheet string) ([]validate.Error, error) {
	if err != nil {
		return nil, fmt.Errorf("reading errors of job %d: %w", job, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (validate.Error, error) {
		e := validate.Error{Sheet: sheet}
		err := row.Scan(&e.Row, &e.Line, &e.Field, &e.Rule, &e.Column, &e.Msg)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading errors of job %d: %w", job, err)
	}
	return out, nil
}
