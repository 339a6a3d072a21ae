package staging

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// What the upload and poll stages do to a job's rows: cut them into chunks, stream a
// chunk's rows into a package, move the chunk's rows through their statuses and put
// F&O's verdict on them. A chunk is a range of row numbers together with the statuses its
// rows are in at each step (valid or fixed when it is cut, uploaded once F&O has it), so
// that a later chunk over the same range (a resubmission) never takes rows of an earlier
// one.

// RowRange is a run of a job's rows cut for one chunk: rows First to Last (row numbers)
// that were in the statuses the cut asked for, Count of them.
type RowRange struct {
	First, Last int64
	Count       int
}

// CutChunks cuts the job's rows in one of statuses, in row order, into ranges of at most
// size rows each.
func (s *Store) CutChunks(ctx context.Context, job int64, size int, statuses ...Status) ([]RowRange, error) {
	if size <= 0 {
		return nil, fmt.Errorf("cutting job %d into chunks: chunk size %d", job, size)
	}
	if err := s.exists(ctx, job); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `
		SELECT min(row_no), max(row_no), count(*)
		FROM (SELECT row_no, (row_number() OVER (ORDER BY row_no) - 1) / $1 AS chunk
		      FROM `+rowsTable(job)+` WHERE status = ANY($2)) r
		GROUP BY chunk ORDER BY chunk`, size, statuses)
	if err != nil {
		return nil, fmt.Errorf("cutting job %d into chunks: %w", job, err)
	}
	ranges, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RowRange, error) {
		var rr RowRange
		err := r.Scan(&rr.First, &rr.Last, &rr.Count)
		return rr, err
	})
	if err != nil {
		return nil, fmt.Errorf("cutting job %d into chunks: %w", job, err)
	}
	return ranges, nil
}

// EachRow calls fn with each row of the job numbered first to last that is in one of
// statuses, in row order, with its mapped values (fn must not keep the slice). An error
// from fn stops the walk and is returned.
func (s *Store) EachRow(ctx context.Context, job, first, last int64, statuses []Status, fn func(no int64, vals []string) error) error {
	return s.eachRow(ctx, job, 0, first, last, statuses, fn)
}

// EachAttemptRow is EachRow for the rows a job attempt sent (1: the job's first run; see
// StartAttempt): a chunk of a later attempt spans row numbers that rows of earlier
// attempts have too, and its package must hold its own rows only.
func (s *Store) EachAttemptRow(ctx context.Context, job int64, attempt int, first, last int64, statuses []Status, fn func(no int64, vals []string) error) error {
	return s.eachRow(ctx, job, max(attempt, 1), first, last, statuses, fn)
}

func (s *Store) eachRow(ctx context.Context, job int64, attempt int, first, last int64, statuses []Status, fn func(no int64, vals []string) error) error {
	rows, err := s.db.Query(ctx, `SELECT row_no, vals FROM `+rowsTable(job)+`
		WHERE row_no BETWEEN $1 AND $2 AND status = ANY($3) AND ($4 = 0 OR coalesce(attempt, 1) = $4) ORDER BY row_no`,
		first, last, statuses, attempt)
	if err != nil {
		return fmt.Errorf("reading rows %d-%d of job %d: %w", first, last, job, err)
	}
	defer rows.Close()
	var (
		no   int64
		vals string
	)
	_, err = pgx.ForEachRow(rows, []any{&no, &vals}, func() error {
		return fn(no, splitVals(vals))
	})
	if err != nil {
		return fmt.Errorf("reading rows %d-%d of job %d: %w", first, last, job, err)
	}
	return nil
}

// SetStatus moves the job's rows numbered first to last that are in one of from to status
// to, and returns how many moved.
func (s *Store) SetStatus(ctx context.Context, job, first, last int64, to Status, from ...Status) (int64, error) {
	tag, err := s.db.Exec(ctx, `UPDATE `+rowsTable(job)+` SET status = $3
		WHERE row_no BETWEEN $1 AND $2 AND status = ANY($4)`, first, last, to, from)
	if err != nil {
		return 0, fmt.Errorf("marking rows %d-%d of job %d %s: %w", first, last, job, to, err)
	}
	return tag.RowsAffected(), nil
}

// RowError is an error found for one staged row after staging: F&O's verdict.
type RowError struct {
	Row int64
	// Field is the entity field the error concerns, empty when it names none.
	Field   string
	Message string
}

// The rules of the errors a row gets after staging.
const (
	// RuleFO marks an error F&O reported for the row.
	RuleFO = "fo"
	// RuleNotImported says why a valid row was not imported (see MarkNotImported).
	RuleNotImported = "not_imported"
)

// RejectWithErrors marks rows rejected with their errors under rule: the rows' earlier errors of
// that rule are replaced, so that repeating it (a stage run again after a crash) stores
// each error once. Rows are those of errs; it returns how many changed status.
func (s *Store) RejectWithErrors(ctx context.Context, job int64, rule string, errs []RowError) (int64, error) {
	if len(errs) == 0 {
		return 0, nil
	}
	nos := make([]int64, len(errs))
	fields := make([]string, len(errs))
	msgs := make([]string, len(errs))
	for i, e := range errs {
		nos[i], fields[i], msgs[i] = e.Row, clean(strings.ToUpper(e.Field)), clean(e.Message)
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE `+rowsTable(job)+` SET status = 'rejected' WHERE row_no = ANY($1) AND status <> 'rejected'`, nos)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		// Errors of an earlier attempt that an operator dealt with stay, resolved.
		deleted, err := tx.Query(ctx, `DELETE FROM `+errorsTable(job)+` WHERE rule = $1 AND row_no = ANY($2) AND NOT resolved
			RETURNING field, rule`, rule, nos)
		if err != nil {
			return err
		}
		keys, err := collectKeys(deleted, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+errorsTable(job)+` (row_no, field, rule, message)
			SELECT e.row_no, e.field, $1, e.message FROM unnest($2::bigint[], $3::text[], $4::text[]) AS e(row_no, field, message)`,
			rule, nos, fields, msgs); err != nil {
			return err
		}
		for _, f := range fields {
			keys = addKey(keys, groupKey{f, rule})
		}
		return recountGroups(ctx, tx, job, keys)
	})
	if err != nil {
		return 0, fmt.Errorf("storing the rejections of job %d: %w", job, err)
	}
	return n, nil
}

// MarkNotImported rejects the job's rows numbered first to last that are in one of
// from, each with one error of rule RuleNotImported saying why (replacing an earlier
// one): valid rows whose chunk ended without F&O importing them, or without F&O saying
// whether it did (a failed upload, an execution past its poll deadline). It returns how
// many there were.
func (s *Store) MarkNotImported(ctx context.Context, job, first, last int64, from []Status, why string) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE `+rowsTable(job)+` SET status = 'rejected'
			WHERE row_no BETWEEN $1 AND $2 AND status = ANY($3) RETURNING row_no`, first, last, from)
		if err != nil {
			return err
		}
		nos, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(nos) == 0 {
			return err
		}
		n = int64(len(nos))
		if _, err := tx.Exec(ctx, `DELETE FROM `+errorsTable(job)+` WHERE rule = $1 AND row_no = ANY($2) AND NOT resolved`,
			RuleNotImported, nos); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `INSERT INTO `+errorsTable(job)+` (row_no, rule, message) SELECT unnest($1::bigint[]), $2, $3`,
			nos, RuleNotImported, clean(why)); err != nil {
			return err
		}
		return recountGroups(ctx, tx, job, []groupKey{{"", RuleNotImported}})
	})
	if err != nil {
		return 0, fmt.Errorf("marking rows %d-%d of job %d not imported: %w", first, last, job, err)
	}
	return n, nil
}

// NotImported counts the job's rejected rows that F&O did not reject itself: their chunk
// failed (MarkNotImported).
func (s *Store) NotImported(ctx context.Context, job int64) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT count(DISTINCT e.row_no) FROM `+errorsTable(job)+` e JOIN `+rowsTable(job)+` r USING (row_no)
		WHERE e.rule = $1 AND NOT e.resolved AND r.status = 'rejected'`, RuleNotImported).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting the rows of job %d not imported: %w", job, err)
	}
	return n, nil
}
