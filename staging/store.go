package staging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/internal/dbtx"
)

// Status is where a staged row stands.
type Status string

// The statuses of a staged row.
const (
	StatusValid    Status = "valid"    // passed every check; waits to be uploaded
	StatusInvalid  Status = "invalid"  // failed a check; waits for an operator
	StatusUploaded Status = "uploaded" // sent to F&O in a package
	StatusImported Status = "imported" // F&O imported it
	StatusRejected Status = "rejected" // F&O refused it, or its chunk failed (RuleNotImported)
	StatusFixed    Status = "fixed"    // edited by an operator and now passes the row rules
	StatusSkipped  Status = "skipped"  // rejected by an operator (with a reason): never sent again
)

// OpenStatuses are the statuses of the rows that wait for an operator (the queue):
// invalid by our rules, rejected (by F&O, or not imported because their chunk failed),
// and fixed but not sent again yet. Only open rows are edited or set aside.
var OpenStatuses = []Status{StatusInvalid, StatusRejected, StatusFixed}

// openCondition is OpenStatuses in SQL, written the same in the queue index and in the
// queries that use it (the planner proves the index applies by comparing them).
const openCondition = "status IN ('invalid', 'rejected', 'fixed')"

// IsOpen reports whether a row in status st waits for an operator.
func IsOpen(st Status) bool { return slices.Contains(OpenStatuses, st) }

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusValid, StatusInvalid, StatusUploaded, StatusImported, StatusRejected, StatusFixed, StatusSkipped}

// ErrNoJob is returned (wrapped) when a job has no staging area: never created, or purged.
var ErrNoJob = errors.New("job has no staged rows")

// ErrNoRow is returned (wrapped) when a job has no row with the given number.
var ErrNoRow = errors.New("no such staged row")

// DBTX is a database handle: a pool, a connection or a transaction.
type DBTX = dbtx.DBTX

// Store is the staging area of a database.
//
// A job's partitions are ordinary logged tables. UNLOGGED ones were measured at no
// clear gain for a 1M-row binary COPY on the target machine (1.1–1.3 s either way: the
// cost is in the client and in array input, not in WAL) and would lose operators' edits
// and the row statuses of in-flight uploads in a crash, and be missing on a standby.
type Store struct {
	db DBTX
}

// NewStore returns the staging area of the database behind db: a pool, a connection or
// a transaction. The schema comes from the migrations package. Two operations need a
// pool: a Writer copies rows and errors on two connections of its own, and Drop (and so
// Purge) detaches partitions concurrently, which cannot run inside a transaction.
func NewStore(db DBTX) *Store { return &Store{db: db} }

// errNeedsPool is returned by the operations that need the store to be on a pool.
var errNeedsPool = errors.New("staging: this operation needs a store on a connection pool")

// acquire takes a connection of the store's pool for a Writer.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	p, ok := s.db.(*pgxpool.Pool)
	if !ok {
		return nil, errNeedsPool
	}
	return p.Acquire(ctx)
}

// Layout is how a job's rows are shaped.
type Layout struct {
	// Fields are the entity fields, in the order of a row's Values.
	Fields []string
	// Columns are the source columns (the file's header), in the order of a row's Raw.
	Columns []string
	// Sheet is the XLSX sheet read, empty for text formats.
	Sheet string
	// FieldOf pairs each column with the field mapped from it: FieldOf[i] is the index in
	// Fields of the value read from Columns[i], -1 when no field is. A source value equal
	// to its field's mapped value is stored once. Nil pairs column i with field i.
	FieldOf []int
}

// pairs is FieldOf with nil resolved: for each column, the index in Fields of the value
// mapped from it, or -1.
func (l *Layout) pairs() []int {
	if l.FieldOf != nil {
		return l.FieldOf
	}
	p := make([]int, len(l.Columns))
	for i := range p {
		p[i] = -1
		if i < len(l.Fields) {
			p[i] = i
		}
	}
	return p
}

// MappedFrom returns the value mapped from column i of a row with values vals, and
// whether there is one.
func (l *Layout) MappedFrom(i int, vals []string) (string, bool) {
	return mappedFrom(l.pairs(), i, vals)
}

func mappedFrom(pairs []int, i int, vals []string) (string, bool) {
	if i < len(pairs) && pairs[i] >= 0 && pairs[i] < len(vals) {
		return vals[pairs[i]], true
	}
	return "", false
}

// partition is the quoted name of a job's partition of parent.
func partition(parent string, job int64) string {
	return pgx.Identifier{parent + "_" + strconv.FormatInt(job, 10)}.Sanitize()
}

func rowsTable(job int64) string   { return partition("staging_rows", job) }
func errorsTable(job int64) string { return partition("staging_errors", job) }

// Create makes the staging area of a job: its layout and its (empty) partitions.
func (s *Store) Create(ctx context.Context, job int64, l Layout) error {
	if len(l.Fields) == 0 {
		return fmt.Errorf("creating staging for job %d: no fields", job)
	}
	id := strconv.FormatInt(job, 10)
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO staging_jobs (job_id, fields, columns, sheet, field_of) VALUES ($1, $2, $3, $4, $5)`,
			job, l.Fields, nonNil(l.Columns), l.Sheet, l.FieldOf); err != nil {
			return fmt.Errorf("creating staging for job %d: %w", job, err)
		}
		// A partition is made as a table of its own and attached: CREATE TABLE ...
		// PARTITION OF would take an ACCESS EXCLUSIVE lock on the parent and wait for
		// every other job's COPY to end (measured), ATTACH takes SHARE UPDATE EXCLUSIVE,
		// which lets them run. The default on the partition lets COPY leave job_id out.
		for _, parent := range []string{"staging_rows", "staging_errors"} {
			t := partition(parent, job)
			for _, q := range []string{
				"CREATE TABLE " + t + " (LIKE " + parent + " INCLUDING DEFAULTS)",
				"ALTER TABLE " + t + " ALTER COLUMN job_id SET DEFAULT " + id,
			} {
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("creating staging partitions for job %d: %w", job, err)
				}
			}
		}
		for _, q := range []string{
			// The partial index only ever holds the rows that are not valid: kept up
			// during the COPY, it costs next to nothing. The row number index is built
			// once the rows are in (see markLoaded).
			"CREATE INDEX ON " + rowsTable(job) + " (status, row_no) WHERE status <> 'valid'",
			// The queue: the rows that wait for an operator, in row order (see
			// OpenStatuses). Once a job has ended most of its rows are imported, which
			// the index above holds too.
			"CREATE INDEX ON " + rowsTable(job) + " (row_no) WHERE " + openCondition,
			"CREATE INDEX ON " + errorsTable(job) + " (row_no)",
			// The open errors by group, in row order: a page of a group is a range of
			// it (0.2 ms at row 900k of a 1M-row job, measured), and errors operators
			// dealt with drop out of it.
			"CREATE INDEX ON " + errorsTable(job) + " (field, rule, row_no) WHERE NOT resolved",
			"ALTER TABLE staging_rows ATTACH PARTITION " + rowsTable(job) + " FOR VALUES IN (" + id + ")",
			"ALTER TABLE staging_errors ATTACH PARTITION " + errorsTable(job) + " FOR VALUES IN (" + id + ")",
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("creating staging partitions for job %d: %w", job, err)
			}
		}
		return nil
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Layout returns the layout a job was created with.
func (s *Store) Layout(ctx context.Context, job int64) (Layout, error) {
	var l Layout
	err := s.db.QueryRow(ctx, `SELECT fields, columns, sheet, field_of FROM staging_jobs WHERE job_id = $1`, job).
		Scan(&l.Fields, &l.Columns, &l.Sheet, &l.FieldOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, fmt.Errorf("job %d: %w", job, ErrNoJob)
	}
	if err != nil {
		return l, fmt.Errorf("reading staging layout of job %d: %w", job, err)
	}
	return l, nil
}

// Drop removes a job's staged rows and errors. A partition is detached CONCURRENTLY
// before it is dropped, so that other jobs' COPYs and queries are never blocked: the
// detach waits for transactions that use the parent instead. A detach left pending by
// an interrupted Drop is finished by the next one.
func (s *Store) Drop(ctx context.Context, job int64) error {
	for _, parent := range []string{"staging_rows", "staging_errors"} {
		t := partition(parent, job)
		var pending *bool
		err := s.db.QueryRow(ctx, `SELECT (SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = c.oid)
			FROM (SELECT to_regclass($1) AS oid) c`, t).Scan(&pending)
		if err != nil {
			return fmt.Errorf("dropping staging of job %d: %w", job, err)
		}
		if pending != nil {
			q := "ALTER TABLE " + parent + " DETACH PARTITION " + t + " CONCURRENTLY"
			if *pending {
				q = "ALTER TABLE " + parent + " DETACH PARTITION " + t + " FINALIZE"
			}
			if _, err := s.db.Exec(ctx, q); err != nil {
				return fmt.Errorf("dropping staging of job %d: %w", job, err)
			}
		}
		if _, err := s.db.Exec(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			return fmt.Errorf("dropping staging of job %d: %w", job, err)
		}
	}
	for _, q := range []string{`DELETE FROM staging_error_groups WHERE job_id = $1`, `DELETE FROM staging_jobs WHERE job_id = $1`} {
		if _, err := s.db.Exec(ctx, q, job); err != nil {
			return fmt.Errorf("dropping staging of job %d: %w", job, err)
		}
	}
	return nil
}

// DefaultRetention is how long staged rows are kept when database.staging_retention is unset.
const DefaultRetention = 30 * 24 * time.Hour

// Purge drops the staging areas of jobs that finished (or, when the job row is gone or
// never finished, were created) before olderThan, and returns their ids.
func (s *Store) Purge(ctx context.Context, olderThan time.Time) ([]int64, error) {
	rows, err := s.db.Query(ctx, `
		SELECT s.job_id FROM staging_jobs s LEFT JOIN jobs j ON j.id = s.job_id
		WHERE coalesce(j.finished_at, s.created_at) < $1
		  AND (j.id IS NULL OR j.status NOT IN ('queued', 'running'))
		ORDER BY s.job_id`, olderThan)
	if err != nil {
		return nil, fmt.Errorf("listing staging to purge: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("listing staging to purge: %w", err)
	}
	for i, job := range jobs {
		if err := s.Drop(ctx, job); err != nil {
			return jobs[:i], err
		}
	}
	return jobs, nil
}
