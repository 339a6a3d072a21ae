package jobhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrChunkNotFound is returned (wrapped) for a chunk that does not exist.
var ErrChunkNotFound = errors.New("chunk not found")

// The statuses of a chunk (chunks.status).
const (
	ChunkPending            = "pending"
	ChunkUploading          = "uploading"
	ChunkImporting          = "importing"
	ChunkSucceeded          = "succeeded"
	ChunkPartiallySucceeded = "partially_succeeded"
	ChunkFailed             = "failed"
	ChunkCanceled           = "canceled"
)

// ChunkTerminal reports whether a chunk status is final.
func ChunkTerminal(status string) bool {
	switch status {
	case ChunkSucceeded, ChunkPartiallySucceeded, ChunkFailed, ChunkCanceled:
		return true
	}
	return false
}

// Chunk is a slice of a job's valid staging rows that becomes one DMF package: the valid
// rows numbered FirstRow to LastRow.
type Chunk struct {
	JobID    int64
	No       int
	Lane     int
	FirstRow int64
	LastRow  int64
	RowCount int
	Status   string
	// Attempts is the number of the chunk's current upload attempt (0 before the first).
	Attempts  int
	Error     string
	UpdatedAt time.Time
}

// InsertChunks records a job's chunks (pending) and the job's chunk total.
func (s *Store) InsertChunks(ctx context.Context, job int64, chunks []Chunk) error {
	rows := make([][]any, len(chunks))
	for i, c := range chunks {
		rows[i] = []any{job, c.No, c.Lane, c.FirstRow, c.LastRow, c.RowCount}
	}
	if _, err := s.db.Exec(ctx, `
		INSERT INTO chunks (job_id, chunk_no, lane, first_row, last_row, row_count)
		SELECT $1, r.no, r.lane, r.first_row, r.last_row, r.row_count
		FROM unnest($2::int[], $3::int[], $4::bigint[], $5::bigint[], $6::int[]) AS r(no, lane, first_row, last_row, row_count)`,
		job, column(chunks, func(c Chunk) int { return c.No }), column(chunks, func(c Chunk) int { return c.Lane }),
		column(chunks, func(c Chunk) int64 { return c.FirstRow }), column(chunks, func(c Chunk) int64 { return c.LastRow }),
		column(chunks, func(c Chunk) int { return c.RowCount })); err != nil {
		return fmt.Errorf("recording %d chunks of job %d: %w", len(rows), job, err)
	}
	return s.SetChunksTotal(ctx, job, len(chunks))
}

func column[T any](chunks []Chunk, f func(Chunk) T) []T {
	out := make([]T, len(chunks))
	for i, c := range chunks {
		out[i] = f(c)
	}
	return out
}

const chunkColumns = `job_id, chunk_no, lane, first_row, last_row, row_count, status, attempts, coalesce(error, ''), updated_at`

func scanChunk(row pgx.Row) (Chunk, error) {
	var c Chunk
	err := row.Scan(&c.JobID, &c.No, &c.Lane, &c.FirstRow, &c.LastRow, &c.RowCount, &c.Status, &c.Attempts, &c.Error, &c.UpdatedAt)
	return c, err
}

// Chunk returns one chunk of a job.
func (s *Store) Chunk(ctx context.Context, job int64, no int) (Chunk, error) {
	return s.chunk(ctx, job, no, "")
}

// LockChunk returns one chunk of a job and locks it until the transaction ends. The
// stages that change a chunk's status lock it first and act on what they read under the
// lock: a status read before (a reclaimed upload that re-records its execution while the
// execution's poll ends the chunk) must never overwrite a chunk's end.
func (s *Store) LockChunk(ctx context.Context, job int64, no int) (Chunk, error) {
	return s.chunk(ctx, job, no, " FOR UPDATE")
}

func (s *Store) chunk(ctx context.Context, job int64, no int, lock string) (Chunk, error) {
	c, err := scanChunk(s.db.QueryRow(ctx, `SELECT `+chunkColumns+` FROM chunks WHERE job_id = $1 AND chunk_no = $2`+lock, job, no))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("job %d chunk %d: %w", job, no, ErrChunkNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("reading job %d chunk %d: %w", job, no, err)
	}
	return c, nil
}

// Chunks returns a job's chunks in order.
func (s *Store) Chunks(ctx context.Context, job int64) ([]Chunk, error) {
	rows, err := s.db.Query(ctx, `SELECT `+chunkColumns+` FROM chunks WHERE job_id = $1 ORDER BY chunk_no`, job)
	if err != nil {
		return nil, fmt.Errorf("reading the chunks of job %d: %w", job, err)
	}
	chunks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Chunk, error) { return scanChunk(r) })
	if err != nil {
		return nil, fmt.Errorf("reading the chunks of job %d: %w", job, err)
	}
	return chunks, nil
}

// StartChunkUpload marks a chunk uploading and returns its attempt number: the current
// one when an attempt was already started (a retried or crashed upload continues it),
// else 1.
func (s *Store) StartChunkUpload(ctx context.Context, job int64, no int) (int, error) {
	var attempt int
	err := s.db.QueryRow(ctx, `
		UPDATE chunks SET attempts = greatest(attempts, 1),
		       status = CASE WHEN status = 'pending' THEN 'uploading' ELSE status END, updated_at = now()
		WHERE job_id = $1 AND chunk_no = $2 RETURNING attempts`, job, no).Scan(&attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("job %d chunk %d: %w", job, no, ErrChunkNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("starting the upload of job %d chunk %d: %w", job, no, err)
	}
	return attempt, nil
}

// SetChunkStatus records where a chunk stands; msg is its error ("" for none).
func (s *Store) SetChunkStatus(ctx context.Context, job int64, no int, status, msg string) error {
	tag, err := s.db.Exec(ctx, `UPDATE chunks SET status = $3, error = $4, updated_at = now() WHERE job_id = $1 AND chunk_no = $2`,
		job, no, status, nullString(msg))
	if err != nil {
		return fmt.Errorf("setting the status of job %d chunk %d: %w", job, no, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("job %d chunk %d: %w", job, no, ErrChunkNotFound)
	}
	return nil
}

// ChunksPending counts a job's chunks that have not reached a final status.
func (s *Store) ChunksPending(ctx context.Context, job int64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE job_id = $1
		AND status NOT IN ('succeeded', 'partially_succeeded', 'failed', 'canceled')`, job).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting the open chunks of job %d: %w", job, err)
	}
	return n, nil
}

// ChunkProgress sums a job's chunks for progress while they are in flight: the rows of
// the chunks F&O has (submitted or ended) and of those that ended.
func (s *Store) ChunkProgress(ctx context.Context, job int64) (submitted, ended int64, err error) {
	err = s.db.QueryRow(ctx, `
		SELECT coalesce(sum(row_count) FILTER (WHERE status NOT IN ('pending', 'uploading')), 0),
		       coalesce(sum(row_count) FILTER (WHERE status IN ('succeeded', 'partially_succeeded', 'failed', 'canceled')), 0)
		FROM chunks WHERE job_id = $1`, job).Scan(&submitted, &ended)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the chunks of job %d: %w", job, err)
	}
	return submitted, ended, nil
}
