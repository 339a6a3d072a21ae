package jobhistory

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultListLimit is how many jobs ListJobs returns when JobFilter.Limit is 0.
const DefaultListLimit = 20

// JobFilter selects the jobs ListJobs returns.
type JobFilter struct {
	// Project keeps the jobs of one project; empty keeps all.
	Project string
	// Status keeps the jobs in one status (see JobStatuses); empty keeps all.
	Status string
	// Trigger keeps the jobs started by one trigger (schedule, run, run_now...); empty
	// keeps all.
	Trigger string
	// CreatedFrom and CreatedBefore keep the jobs created at or after From and before
	// Before; zero leaves that end open.
	CreatedFrom, CreatedBefore time.Time
	// Before keeps the jobs with a lower id: the Next of the previous page. 0 starts
	// from the newest job.
	Before int64
	// Limit is the most jobs returned; 0 means DefaultListLimit.
	Limit int
}

// JobListing is a job as ListJobs returns it: with its source file's path.
type JobListing struct {
	Job
	// File is the path of the job's source file in its connection; empty when none.
	File string
}

// ListJobs returns the jobs f selects, newest (highest id) first. next is the Before of
// the following page, 0 when no more jobs match. Pages are keyset on the id, so a job
// created between two pages never shifts or repeats a row.
func (s *Store) ListJobs(ctx context.Context, f JobFilter) (jobs []JobListing, next int64, err error) {
	limit := f.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 0 {
		return nil, 0, fmt.Errorf("listing jobs: limit %d is negative", limit)
	}
	// The conditions are built rather than written as "$1 IS NULL OR ...", so that the
	// planner sees only the ones in use and walks the primary key backwards.
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Project != "" {
		add("jobs.project = ?", f.Project)
	}
	if f.Status != "" {
		add("jobs.status = ?", f.Status)
	}
	if f.Trigger != "" {
		add("jobs.trigger = ?", f.Trigger)
	}
	if !f.CreatedFrom.IsZero() {
		add("jobs.created_at >= ?", f.CreatedFrom)
	}
	if !f.CreatedBefore.IsZero() {
		add("jobs.created_at < ?", f.CreatedBefore)
	}
	if f.Before != 0 {
		add("jobs.id < ?", f.Before)
	}
	sql := `SELECT ` + jobColumns + `, coalesce(source_files.path, '')
		FROM jobs LEFT JOIN source_files ON source_files.id = jobs.source_file_id`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, ` AND `)
	}
	// One row more than asked tells whether another page follows.
	args = append(args, limit+1)
	sql += ` ORDER BY jobs.id DESC LIMIT $` + strconv.Itoa(len(args))

	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("listing jobs: %w", err)
	}
	jobs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (JobListing, error) {
		var l JobListing
		j, err := scanJob(r, &l.File)
		l.Job = j
		return l, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing jobs: %w", err)
	}
	if len(jobs) > limit {
		jobs = jobs[:limit]
		next = jobs[limit-1].ID
	}
	return jobs, next, nil
}
