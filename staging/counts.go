package staging

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Counts are a job's staged rows by status.
type Counts struct {
	Total    int64 `json:"total"`
	Valid    int64 `json:"valid"`
	Invalid  int64 `json:"invalid"`
	Uploaded int64 `json:"uploaded"`
	Imported int64 `json:"imported"`
	Rejected int64 `json:"rejected"`
	Fixed    int64 `json:"fixed"`
	Skipped  int64 `json:"skipped"`
}

// ErrorRate is the share of invalid rows, 0 for an empty job.
func (c Counts) ErrorRate() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Invalid) / float64(c.Total)
}

// Of returns the number of rows in status s.
func (c Counts) Of(s Status) int64 {
	if p := c.of(s); p != nil {
		return *p
	}
	return 0
}

// of is the count of status s, nil for an unknown status.
func (c *Counts) of(s Status) *int64 {
	switch s {
	case StatusValid:
		return &c.Valid
	case StatusInvalid:
		return &c.Invalid
	case StatusUploaded:
		return &c.Uploaded
	case StatusImported:
		return &c.Imported
	case StatusRejected:
		return &c.Rejected
	case StatusFixed:
		return &c.Fixed
	case StatusSkipped:
		return &c.Skipped
	}
	return nil
}

func (c *Counts) add(s Status, n int64) {
	if p := c.of(s); p != nil {
		*p += n
	}
	c.Total += n
}

// Counts returns a job's rows by status.
func (s *Store) Counts(ctx context.Context, job int64) (Counts, error) {
	if err := s.exists(ctx, job); err != nil {
		return Counts{}, err
	}
	rows, err := s.db.Query(ctx, "SELECT status, count(*) FROM "+rowsTable(job)+" GROUP BY status")
	return collectCounts(rows, err, job)
}

// collectCounts reads (status, count) rows.
func collectCounts(rows pgx.Rows, err error, job int64) (Counts, error) {
	var c Counts
	if err != nil {
		return c, fmt.Errorf("counting staged rows of job %d: %w", job, err)
	}
	var st Status
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		c.add(st, n)
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("counting staged rows of job %d: %w", job, err)
	}
	return c, nil
}

// exists returns ErrNoJob (wrapped) when a job has no staging area.
func (s *Store) exists(ctx context.Context, job int64) error {
	var ok bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM staging_jobs WHERE job_id = $1)`, job).Scan(&ok); err != nil {
		return fmt.Errorf("looking up staging of job %d: %w", job, err)
	}
	if !ok {
		return fmt.Errorf("job %d: %w", job, ErrNoJob)
	}
	return nil
}

// ErrorRateExceededError is the decision that a job fails before anything is uploaded
// because too many of its rows are invalid (on_errors.max_error_rate).
type ErrorRateExceededError struct {
	Invalid, Total int64
	Rate, Max      float64
}

func (e *ErrorRateExceededError) Error() string {
	return fmt.Sprintf("%d of %d rows invalid (%.2f%%), above on_errors.max_error_rate %.2f%%",
		e.Invalid, e.Total, 100*e.Rate, 100*e.Max)
}

// CheckErrorRate decides whether a job with counts c may upload: it returns an
// *ErrorRateExceededError when the share of invalid rows is above max. A nil max means
// the default of 1: row errors alone never fail a job.
func CheckErrorRate(c Counts, max *float64) error {
	limit := 1.0
	if max != nil {
		limit = *max
	}
	if rate := c.ErrorRate(); rate > limit {
		return &ErrorRateExceededError{Invalid: c.Invalid, Total: c.Total, Rate: rate, Max: limit}
	}
	return nil
}

// OpenCounts returns how many rows of a job wait for an operator (invalid, rejected,
// fixed), the other statuses left zero and Total their sum, each status counted up to
// upTo+1 rows (0: all of them): a count above upTo means more than upTo. Each count reads
// its status's range of the index of the rows that are not valid, so that a page that
// only needs to say "more than 10,000" does not count a million-row job's 300k open rows
// (190 ms, measured, where the capped counts take a few).
func (s *Store) OpenCounts(ctx context.Context, job int64, upTo int64) (Counts, error) {
	if err := s.exists(ctx, job); err != nil {
		return Counts{}, err
	}
	var limit *int64
	if upTo > 0 {
		limit = new(upTo + 1)
	}
	// Each status is a literal: with a parameter the planner cannot prove the partial
	// index (status <> 'valid') applies, and reads the whole job instead.
	counts := make([]string, len(OpenStatuses))
	for i, st := range OpenStatuses {
		counts[i] = fmt.Sprintf("SELECT '%[1]s', (SELECT count(*) FROM (SELECT 1 FROM %[2]s WHERE status = '%[1]s' LIMIT $1) capped)", st, rowsTable(job))
	}
	rows, err := s.db.Query(ctx, strings.Join(counts, " UNION ALL "), limit)
	return collectCounts(rows, err, job)
}
