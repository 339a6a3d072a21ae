package staging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/validate"
)

// SetResult is what a set rule did to a job's rows.
type SetResult struct {
	// Flagged is the number of rows that failed the rule (each got an error).
	Flagged int64
	// Invalidated is the number of those that were valid until then.
	Invalidated int64
}

// fieldIndexes returns the 1-based positions of fields in a job's layout.
func fieldIndexes(l Layout, fields []string) ([]int, error) {
	if len(fields) == 0 {
		return nil, errors.New("set rule names no field")
	}
	idx := make([]int, len(fields))
	for i, f := range fields {
		p := slices.Index(l.Fields, f)
		if p < 0 {
			return nil, fmt.Errorf("set rule names %s, not a staged field (%s)", f, strings.Join(l.Fields, ", "))
		}
		idx[i] = p + 1
	}
	return idx, nil
}

// Unique flags every row whose key (the values of fields) repeats an earlier row's:
// each duplicate gets a "unique" error naming the line of the first occurrence and
// becomes invalid. Rows whose key values are all empty are not checked (that is the
// required rule's business).
func (s *Store) Unique(ctx context.Context, job int64, fields []string) (SetResult, error) {
	return s.unique(ctx, job, fields, nil)
}

// unique is Unique; a non-nil candidates limits the check to the keys of those rows
// (the rows whose key a UniqueFilter may have seen before).
func (s *Store) unique(ctx context.Context, job int64, fields []string, candidates []int64) (SetResult, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return SetResult{}, err
	}
	idx, err := fieldIndexes(l, fields)
	if err != nil {
		return SetResult{}, fmt.Errorf("job %d: %w", job, err)
	}
	var keys, rkeys, aliased, nonEmpty, on []string
	for i, p := range idx {
		k, rk := valExpr("", p), valExpr("r.", p)
		keys, rkeys = append(keys, k), append(rkeys, rk)
		aliased = append(aliased, k+" AS k"+strconv.Itoa(i))
		nonEmpty = append(nonEmpty, k+" <> ''")
		on = append(on, rk+" = d.k"+strconv.Itoa(i))
	}
	rt := rowsTable(job)
	label := strings.Join(fields, ", ")
	// The repeated keys are found first (a hash aggregate, or the candidates' keys), so
	// that only their rows are sorted to find each key's first line.
	dupKeys := `SELECT ` + strings.Join(aliased, ", ") + ` FROM ` + rt + `
			WHERE ` + strings.Join(nonEmpty, " OR ") + `
			GROUP BY ` + strings.Join(keys, ", ") + ` HAVING count(*) > 1`
	args := []any{fields[0], label}
	if candidates != nil {
		dupKeys = `SELECT DISTINCT ` + strings.Join(aliased, ", ") + ` FROM ` + rt + `
			WHERE row_no = ANY($3) AND (` + strings.Join(nonEmpty, " OR ") + `)`
		args = append(args, candidates)
	}
	q := `
		WITH d AS (` + dupKeys + `
		), dup AS (
			SELECT row_no, first_line FROM (
				SELECT r.row_no,
					row_number() OVER w AS rn,
					first_value(r.line) OVER w AS first_line
				FROM ` + rt + ` r JOIN d ON ` + strings.Join(on, " AND ") + `
				WINDOW w AS (PARTITION BY ` + strings.Join(rkeys, ", ") + ` ORDER BY r.row_no)
			) x WHERE rn > 1
		), ins AS (
			INSERT INTO ` + errorsTable(job) + ` (row_no, field, rule, message)
			SELECT row_no, $1, 'unique', 'duplicate of line ' || first_line || ' (' || $2 || ')' FROM dup
			RETURNING row_no
		), upd AS (
			UPDATE ` + rt + ` r SET status = 'invalid' FROM ins
			WHERE r.row_no = ins.row_no AND r.status = 'valid'
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)`
	res, err := s.flag(ctx, job, groupKey{fields[0], string(validate.RuleUnique)}, q, args...)
	if err != nil {
		return SetResult{}, fmt.Errorf("checking unique %s of job %d: %w", label, job, err)
	}
	return res, nil
}

// valExpr is the SQL for the 1-based pos-th value of a row (alias "r." or "").
func valExpr(alias string, pos int) string {
	return "split_part(" + alias + "vals, chr(" + strconv.Itoa(int(valSep)) + "), " + strconv.Itoa(pos) + ")"
}

// Lookup flags every row whose value of field is not empty and not among values (the
// reference list named reference): each gets a "lookup" error and becomes invalid.
func (s *Store) Lookup(ctx context.Context, job int64, field, reference string, values []string) (SetResult, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return SetResult{}, err
	}
	idx, err := fieldIndexes(l, []string{field})
	if err != nil {
		return SetResult{}, fmt.Errorf("job %d: %w", job, err)
	}
	v := valExpr("r.", idx[0])
	rt := rowsTable(job)
	// The list is joined as a hashed set: an anti-join, not a scan of the list per row.
	q := `
		WITH bad AS (
			SELECT r.row_no, ` + v + ` AS v FROM ` + rt + ` r
			LEFT JOIN (SELECT DISTINCT unnest($1::text[]) AS v) ref ON ref.v = ` + v + `
			WHERE ` + v + ` <> '' AND ref.v IS NULL
		), ins AS (
			INSERT INTO ` + errorsTable(job) + ` (row_no, field, rule, message)
			SELECT row_no, $2, 'lookup', format('%s is not in %s', quote_literal(v), $3::text) FROM bad
			RETURNING row_no
		), upd AS (
			UPDATE ` + rt + ` r SET status = 'invalid' FROM ins
			WHERE r.row_no = ins.row_no AND r.status = 'valid'
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)`
	res, err := s.flag(ctx, job, groupKey{field, string(validate.RuleLookup)}, q, cleanAll(values), field, reference)
	if err != nil {
		return SetResult{}, fmt.Errorf("checking lookup %s of job %d against %s: %w", field, job, reference, err)
	}
	return res, nil
}

// flag runs a set rule's query (which answers the rows flagged and invalidated) and
// recounts the rule's error group.
func (s *Store) flag(ctx context.Context, job int64, group groupKey, q string, args ...any) (SetResult, error) {
	var res SetResult
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, q, args...).Scan(&res.Flagged, &res.Invalidated); err != nil || res.Flagged == 0 {
			return err
		}
		return recountGroups(ctx, tx, job, []groupKey{group})
	})
	return res, err
}

func cleanAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clean(s)
	}
	return out
}
