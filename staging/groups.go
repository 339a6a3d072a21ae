package staging

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/validate"
)

// Error groups: the rows with an open (unresolved) error of each field and rule, kept in
// staging_error_groups (migration 00007) rather than counted live: a GROUP BY over a
// job's 300k errors costs 190 ms, a read of the table well under one (measured). They are
// counted once when a job's rows are loaded, then recounted, group by group, by every
// statement that adds or resolves errors: a group's recount reads its range of the
// partial index (field, rule, row_no) WHERE NOT resolved, which costs in proportion to
// the group's size (a few ms for 100k errors), not the job's.

// groupKey names one error group.
type groupKey struct{ field, rule string }

// addKey adds k to keys once.
func addKey(keys []groupKey, k groupKey) []groupKey {
	if slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}

// collectKeys reads (field, rule) rows (a RETURNING field, rule) into keys.
func collectKeys(rows pgx.Rows, keys []groupKey) ([]groupKey, error) {
	var k groupKey
	_, err := pgx.ForEachRow(rows, []any{&k.field, &k.rule}, func() error {
		keys = addKey(keys, k)
		return nil
	})
	return keys, err
}

// countGroups counts every error group of a job from scratch.
func countGroups(ctx context.Context, db DBTX, job int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM staging_error_groups WHERE job_id = $1`, job); err != nil {
		return fmt.Errorf("counting the errors of job %d: %w", job, err)
	}
	_, err := db.Exec(ctx, `INSERT INTO staging_error_groups (job_id, field, rule, rows)
		SELECT $1, field, rule, count(DISTINCT row_no) FROM `+errorsTable(job)+` WHERE NOT resolved GROUP BY field, rule`, job)
	if err != nil {
		return fmt.Errorf("counting the errors of job %d: %w", job, err)
	}
	return nil
}

// recountGroups recounts the error groups keys of a job. It serialises on the job's
// staging_jobs row until the transaction ends, so that each recount, a statement that
// starts after the lock is taken, sees every change committed before it: two concurrent
// actions never leave a count that misses one of them. Callers take every row lock they
// need before (nothing waits for a row while holding the job's lock).
func recountGroups(ctx context.Context, db DBTX, job int64, keys []groupKey) error {
	if len(keys) == 0 {
		return nil
	}
	fields, rules := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		fields[i], rules[i] = k.field, k.rule
	}
	if _, err := db.Exec(ctx, `SELECT 1 FROM staging_jobs WHERE job_id = $1 FOR NO KEY UPDATE`, job); err != nil {
		return fmt.Errorf("counting the errors of job %d: %w", job, err)
	}
	_, err := db.Exec(ctx, `
		INSERT INTO staging_error_groups (job_id, field, rule, rows)
		SELECT $1, g.field, g.rule, (SELECT count(DISTINCT e.row_no) FROM `+errorsTable(job)+` e
			WHERE e.field = g.field AND e.rule = g.rule AND NOT e.resolved)
		FROM unnest($2::text[], $3::text[]) AS g(field, rule)
		ON CONFLICT (job_id, field, rule) DO UPDATE SET rows = excluded.rows`, job, fields, rules)
	if err != nil {
		return fmt.Errorf("counting the errors of job %d: %w", job, err)
	}
	return nil
}

// ErrorGroup is how many rows of a job have an open error of one rule on one field.
type ErrorGroup struct {
	Field    string        `json:"field"`
	Rule     validate.Rule `json:"rule"`
	Rows     int64         `json:"rows"`
	FirstRow int64         `json:"first_row"`
}

// ErrorSummary returns a job's open errors grouped by field and rule, the most frequent
// first. Errors of rows an operator fixed or set aside are not among them.
func (s *Store) ErrorSummary(ctx context.Context, job int64) ([]ErrorGroup, error) {
	if err := s.exists(ctx, job); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `
		SELECT g.field, g.rule, g.rows, coalesce((SELECT min(e.row_no) FROM `+errorsTable(job)+` e
			WHERE e.field = g.field AND e.rule = g.rule AND NOT e.resolved), 0)
		FROM staging_error_groups g WHERE g.job_id = $1 AND g.rows > 0
		ORDER BY g.rows DESC, g.field, g.rule`, job)
	if err != nil {
		return nil, fmt.Errorf("summarizing errors of job %d: %w", job, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ErrorGroup])
	if err != nil {
		return nil, fmt.Errorf("summarizing errors of job %d: %w", job, err)
	}
	return out, nil
}

// resolveErrors marks the open errors of rows resolved and returns the groups they were
// in.
func resolveErrors(ctx context.Context, db DBTX, job int64, nos []int64, keys []groupKey) ([]groupKey, error) {
	rows, err := db.Query(ctx, `UPDATE `+errorsTable(job)+` SET resolved = true
		WHERE row_no = ANY($1) AND NOT resolved RETURNING field, rule`, nos)
	if err != nil {
		return nil, err
	}
	return collectKeys(rows, keys)
}
