package worker

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// The staging package has no API yet for what the upload and poll stages do to rows
// (cut chunks, stream a chunk, set row statuses, attach F&O's errors): these queries
// do it over the staging tables (migrations/sql/00002_staging.sql) by job_id, which
// Postgres prunes to the job's partition.

// valSep joins a staged row's mapped values (see staging_rows.vals).
const valSep = "\x1f"

// planChunks cuts a job's valid rows, in row order, into chunks of chunkRows; chunk k
// goes to lane ((k-1) mod lanes)+1.
func planChunks(ctx context.Context, db jobhistory.DBTX, job int64, chunkRows, lanes int) ([]jobhistory.Chunk, error) {
	rows, err := db.Query(ctx, `
		SELECT (n - 1) / $2 + 1 AS chunk_no, min(row_no), max(row_no), count(*)
		FROM (SELECT row_no, row_number() OVER (ORDER BY row_no) AS n
		      FROM staging_rows WHERE job_id = $1 AND status = 'valid') v
		GROUP BY 1 ORDER BY 1`, job, chunkRows)
	if err != nil {
		return nil, fmt.Errorf("cutting job %d into chunks: %w", job, err)
	}
	chunks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobhistory.Chunk, error) {
		var c jobhistory.Chunk
		err := r.Scan(&c.No, &c.FirstRow, &c.LastRow, &c.RowCount)
		c.Lane = (c.No-1)%lanes + 1
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("cutting job %d into chunks: %w", job, err)
	}
	return chunks, nil
}

// chunkRows calls fn with each row of chunk c that is to be (or was) sent, in row order,
// with its mapped values.
func chunkRows(ctx context.Context, db jobhistory.DBTX, c jobhistory.Chunk, fn func(rowNo int64, vals []string) error) error {
	rows, err := db.Query(ctx, `
		SELECT row_no, vals FROM staging_rows
		WHERE job_id = $1 AND row_no BETWEEN $2 AND $3 AND status IN ('valid', 'uploaded', 'imported', 'rejected')
		ORDER BY row_no`, c.JobID, c.FirstRow, c.LastRow)
	if err != nil {
		return fmt.Errorf("reading job %d chunk %d: %w", c.JobID, c.No, err)
	}
	defer rows.Close()
	var (
		no   int64
		vals string
	)
	_, err = pgx.ForEachRow(rows, []any{&no, &vals}, func() error {
		return fn(no, strings.Split(vals, valSep))
	})
	if err != nil {
		return fmt.Errorf("reading job %d chunk %d: %w", c.JobID, c.No, err)
	}
	return nil
}

// setChunkRows moves the rows of chunk c that are in one of the from statuses to status to.
func setChunkRows(ctx context.Context, db jobhistory.DBTX, c jobhistory.Chunk, to staging.Status, from ...staging.Status) (int64, error) {
	tag, err := db.Exec(ctx, `
		UPDATE staging_rows SET status = $4
		WHERE job_id = $1 AND row_no BETWEEN $2 AND $3 AND status = ANY($5)`,
		c.JobID, c.FirstRow, c.LastRow, to, from)
	if err != nil {
		return 0, fmt.Errorf("marking job %d chunk %d %s: %w", c.JobID, c.No, to, err)
	}
	return tag.RowsAffected(), nil
}

// RuleFO is the rule of the errors F&O reports for a row.
const RuleFO = "fo"

// rowError is an error F&O reported for a staged row.
type rowError struct {
	row     int64
	field   string
	message string
}

// rejectRows marks rows rejected by F&O and stores their errors.
func rejectRows(ctx context.Context, db jobhistory.DBTX, job int64, errs []rowError) error {
	if len(errs) == 0 {
		return nil
	}
	nos := make([]int64, len(errs))
	fields := make([]string, len(errs))
	msgs := make([]string, len(errs))
	for i, e := range errs {
		nos[i], fields[i], msgs[i] = e.row, strings.ToUpper(e.field), e.message
	}
	// A repeated poll (a crash after this) must not store the errors twice.
	if _, err := db.Exec(ctx, `DELETE FROM staging_errors WHERE job_id = $1 AND rule = $2 AND row_no = ANY($3)`,
		job, RuleFO, nos); err != nil {
		return fmt.Errorf("storing F&O errors of job %d: %w", job, err)
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO staging_errors (job_id, row_no, field, rule, message)
		SELECT $1, e.row_no, e.field, $2, e.message FROM unnest($3::bigint[], $4::text[], $5::text[]) AS e(row_no, field, message)`,
		job, RuleFO, nos, fields, msgs); err != nil {
		return fmt.Errorf("storing F&O errors of job %d: %w", job, err)
	}
	if _, err := db.Exec(ctx, `UPDATE staging_rows SET status = 'rejected' WHERE job_id = $1 AND row_no = ANY($2)`,
		job, nos); err != nil {
		return fmt.Errorf("marking rows of job %d rejected: %w", job, err)
	}
	return nil
}
