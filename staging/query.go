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
	No     int64            `json:"row"`
	Line   int64            `json:"line"`
	Status Status           `json:"status"`
	Values []string         `json:"values"`
	Raw    []string         `json:"raw"`
	Errors []validate.Error `json:"errors,omitempty"`
}

// MaxPage caps the rows or errors one page returns.
const MaxPage = 1000

func pageSize(limit int) int {
	if limit <= 0 || limit > MaxPage {
		return MaxPage
	}
	return limit
}

const rowColumns = "row_no, line, status, vals, raw"

func (s *Store) scanRows(ctx context.Context, job int64, l Layout, rows pgx.Rows) ([]StagedRow, error) {
	var out []StagedRow
	byNo := map[int64]int{}
	for rows.Next() {
		var r StagedRow
		var (
			vals string
			raw  *string
		)
		if err := rows.Scan(&r.No, &r.Line, &r.Status, &vals, &raw); err != nil {
			return nil, fmt.Errorf("reading staged rows of job %d: %w", job, err)
		}
		r.Values = splitVals(vals)
		var err error
		if r.Raw, err = decodeRaw(raw, r.Values, &l); err != nil {
			return nil, fmt.Errorf("reading row %d of job %d: %w", r.No, job, err)
		}
		byNo[r.No] = len(out)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading staged rows of job %d: %w", job, err)
	}
	if len(out) == 0 {
		return out, nil
	}
	nos := make([]int64, len(out))
	for i, r := range out {
		nos[i] = r.No
	}
	erows, err := s.db.Query(ctx, "SELECT row_no, field, rule, col, message FROM "+errorsTable(job)+
		" WHERE row_no = ANY($1) ORDER BY row_no, field, rule", nos)
	if err != nil {
		return nil, fmt.Errorf("reading errors of job %d: %w", job, err)
	}
	defer erows.Close()
	for erows.Next() {
		var e validate.Error
		if err := erows.Scan(&e.Row, &e.Field, &e.Rule, &e.Column, &e.Msg); err != nil {
			return nil, fmt.Errorf("reading errors of job %d: %w", job, err)
		}
		r := &out[byNo[e.Row]]
		e.Line, e.Sheet = r.Line, l.Sheet
		r.Errors = append(r.Errors, e)
	}
	if err := erows.Err(); err != nil {
		return nil, fmt.Errorf("reading errors of job %d: %w", job, err)
	}
	return out, nil
}

// Rows returns up to limit rows of a job with the given status (any status when empty)
// and a row number above after, in row order, with their errors. Pass the last row's
// number as after to get the next page.
func (s *Store) Rows(ctx context.Context, job int64, status Status, after int64, limit int) ([]StagedRow, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	q := "SELECT " + rowColumns + " FROM " + rowsTable(job) + " WHERE row_no > $1"
	args := []any{after, pageSize(limit)}
	if status != "" {
		q += " AND status = $3"
		args = append(args, status)
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY row_no LIMIT $2", args...)
	if err != nil {
		return nil, fmt.Errorf("reading staged rows of job %d: %w", job, err)
	}
	defer rows.Close()
	return s.scanRows(ctx, job, l, rows)
}

// Row returns one row of a job.
func (s *Store) Row(ctx context.Context, job, no int64) (StagedRow, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return StagedRow{}, err
	}
	rows, err := s.db.Query(ctx, "SELECT "+rowColumns+" FROM "+rowsTable(job)+" WHERE row_no = $1", no)
	if err != nil {
		return StagedRow{}, fmt.Errorf("reading row %d of job %d: %w", no, job, err)
	}
	defer rows.Close()
	out, err := s.scanRows(ctx, job, l, rows)
	if err != nil {
		return StagedRow{}, err
	}
	if len(out) == 0 {
		return StagedRow{}, fmt.Errorf("job %d row %d: %w", job, no, ErrNoRow)
	}
	return out[0], nil
}

// ErrorGroup is how many rows of a job failed one rule on one field.
type ErrorGroup struct {
	Field    string        `json:"field"`
	Rule     validate.Rule `json:"rule"`
	Rows     int64         `json:"rows"`
	FirstRow int64         `json:"first_row"`
}

// ErrorSummary returns a job's errors grouped by field and rule, the most frequent first.
func (s *Store) ErrorSummary(ctx context.Context, job int64) ([]ErrorGroup, error) {
	if err := s.exists(ctx, job); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, "SELECT field, rule, count(DISTINCT row_no), min(row_no) FROM "+errorsTable(job)+
		" GROUP BY field, rule ORDER BY 3 DESC, 1, 2")
	if err != nil {
		return nil, fmt.Errorf("summarizing errors of job %d: %w", job, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ErrorGroup])
	if err != nil {
		return nil, fmt.Errorf("summarizing errors of job %d: %w", job, err)
	}
	return out, nil
}

// Errors returns up to limit errors of one field and rule with a row number above
// after, in row order (one per row: the first by message when a row has several).
func (s *Store) Errors(ctx context.Context, job int64, field string, rule validate.Rule, after int64, limit int) ([]validate.Error, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT ON (e.row_no) e.row_no, r.line, e.field, e.rule, e.col, e.message
		FROM `+errorsTable(job)+` e JOIN `+rowsTable(job)+` r USING (row_no)
		WHERE e.field = $1 AND e.rule = $2 AND e.row_no > $3
		ORDER BY e.row_no, e.message LIMIT $4`, field, rule, after, pageSize(limit))
	return collectErrors(rows, err, job, l.Sheet)
}

// ErrNotEditable is returned (wrapped) when a row's status does not allow an edit:
// only invalid, rejected and fixed rows are edited.
var ErrNotEditable = errors.New("row cannot be edited in its status")

// Edit replaces a row's values and re-validates them with check (the project's row
// rules). A row that passes becomes fixed, one that fails invalid with check's errors;
// its earlier errors are replaced either way. The source values are kept as read.
func (s *Store) Edit(ctx context.Context, job, no int64, values []string, check func(values []string) []validate.Error) (StagedRow, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return StagedRow{}, err
	}
	if len(values) != len(l.Fields) {
		return StagedRow{}, fmt.Errorf("editing job %d row %d: %d values for %d fields", job, no, len(values), len(l.Fields))
	}
	values = cleanAll(values)
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var (
			status Status
			vals   string
			raw    *string
		)
		err := tx.QueryRow(ctx, "SELECT status, vals, raw FROM "+rowsTable(job)+" WHERE row_no = $1 FOR UPDATE", no).
			Scan(&status, &vals, &raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("job %d row %d: %w", job, no, ErrNoRow)
		}
		if err != nil {
			return err
		}
		switch status {
		case StatusInvalid, StatusRejected, StatusFixed:
		default:
			return fmt.Errorf("job %d row %d is %s: %w", job, no, status, ErrNotEditable)
		}
		errs := check(values)
		next := StatusFixed
		if len(errs) > 0 {
			next = StatusInvalid
		}
		// The source values were stored relative to the old mapped values: store them whole.
		src, err := decodeRaw(raw, splitVals(vals), &l)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE "+rowsTable(job)+" SET vals = $2, raw = $3, status = $4 WHERE row_no = $1",
			no, joinVals(values), encodeRaw(src), next); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM "+errorsTable(job)+" WHERE row_no = $1", no); err != nil {
			return err
		}
		for _, e := range errs {
			if _, err := tx.Exec(ctx, "INSERT INTO "+errorsTable(job)+" (row_no, field, rule, col, message) VALUES ($1, $2, $3, $4, $5)",
				no, clean(e.Field), clean(string(e.Rule)), clean(e.Column), clean(e.Msg)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return StagedRow{}, fmt.Errorf("editing job %d row %d: %w", job, no, err)
	}
	return s.Row(ctx, job, no)
}

// Reject marks rows as skipped: an operator decided they are never to be uploaded. Rows
// already uploaded or imported are left alone. It returns the number of rows changed.
func (s *Store) Reject(ctx context.Context, job int64, rows []int64) (int64, error) {
	if err := s.exists(ctx, job); err != nil {
		return 0, err
	}
	tag, err := s.db.Exec(ctx, "UPDATE "+rowsTable(job)+" SET status = 'skipped' WHERE row_no = ANY($1) AND status IN ('valid', 'invalid', 'rejected', 'fixed')", rows)
	if err != nil {
		return 0, fmt.Errorf("rejecting rows of job %d: %w", job, err)
	}
	return tag.RowsAffected(), nil
}

// Resubmit makes a job's fixed rows valid again, ready to be uploaded, and returns how
// many there were.
func (s *Store) Resubmit(ctx context.Context, job int64) (int64, error) {
	if err := s.exists(ctx, job); err != nil {
		return 0, err
	}
	tag, err := s.db.Exec(ctx, "UPDATE "+rowsTable(job)+" SET status = 'valid' WHERE status = 'fixed'")
	if err != nil {
		return 0, fmt.Errorf("resubmitting rows of job %d: %w", job, err)
	}
	return tag.RowsAffected(), nil
}

// FirstErrors returns a job's first errors in row order.
func (s *Store) FirstErrors(ctx context.Context, job int64, limit int) ([]validate.Error, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT e.row_no, r.line, e.field, e.rule, e.col, e.message
		FROM `+errorsTable(job)+` e JOIN `+rowsTable(job)+` r USING (row_no)
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
