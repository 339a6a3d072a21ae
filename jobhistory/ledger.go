package jobhistory

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/dbtx"
	"github.com/dmfpipe/dmfpipe/internal/lockkey"
)

// DBTX is a database handle: a pool, a connection or a transaction.
type DBTX = dbtx.DBTX

// Outcome is where a taken file stands.
type Outcome string

// The outcomes of a ledger entry.
const (
	// OutcomeTaken: a job is reading or importing the file.
	OutcomeTaken Outcome = "taken"
	// OutcomeImported: every row was imported.
	OutcomeImported Outcome = "imported"
	// OutcomePartial: the job ended partially succeeded; rows wait in staging.
	OutcomePartial Outcome = "partial"
	// OutcomeFailed: nothing was imported.
	OutcomeFailed Outcome = "failed"
	// OutcomeDuplicate: skipped, because its content was already imported.
	OutcomeDuplicate Outcome = "duplicate"
)

// ErrNotFound is returned for a ledger entry id that does not exist.
var ErrNotFound = errors.New("ledger entry not found")

// LedgerEntry is one file taken by a project.
type LedgerEntry struct {
	ID         int64
	Project    string
	Connection string
	// File is the version taken; File.Name is its path in the connection.
	File ingest.FileInfo
	// SHA256 is the content hash, nil until SetHash.
	SHA256  *[32]byte
	Outcome Outcome
	// Forced is set for a file taken even if its content was imported before.
	Forced bool
	// DuplicateOf is the entry whose content this file repeats; 0 when none.
	DuplicateOf int64
	// MovedTo is where the file was moved after its job (archive or error folder); empty
	// when it was not moved.
	MovedTo   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Ledger is the file ledger (see the package documentation).
type Ledger struct {
	db DBTX
}

// NewLedger returns the ledger in db.
func NewLedger(db DBTX) *Ledger { return &Ledger{db: db} }

const entryColumns = `id, project, connection, path, size, modified_at, etag, content_sha256,
	outcome, forced, duplicate_of, moved_to, created_at, updated_at`

func scanEntry(row pgx.Row) (*LedgerEntry, error) {
	var (
		e           LedgerEntry
		modified    *time.Time
		etag        *string
		sum         []byte
		duplicateOf *int64
		movedTo     *string
	)
	err := row.Scan(&e.ID, &e.Project, &e.Connection, &e.File.Name, &e.File.Size, &modified, &etag, &sum,
		&e.Outcome, &e.Forced, &duplicateOf, &movedTo, &e.CreatedAt, &e.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if modified != nil {
		e.File.ModTime = *modified
	}
	if etag != nil {
		e.File.ETag = *etag
	}
	if len(sum) == 32 {
		e.SHA256 = (*[32]byte)(sum)
	}
	if duplicateOf != nil {
		e.DuplicateOf = *duplicateOf
	}
	if movedTo != nil {
		e.MovedTo = *movedTo
	}
	return &e, nil
}

// nullTime and nullString store zero values as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Record records that project took a version of a file from connection, and returns the
// new entry's id. forced files are never marked duplicate.
func (l *Ledger) Record(ctx context.Context, project, connection string, f ingest.FileInfo, forced bool) (int64, error) {
	var id int64
	err := l.db.QueryRow(ctx, `
		INSERT INTO source_files (project, connection, path, size, modified_at, etag, forced)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING id`,
		project, connection, f.Name, f.Size, nullTime(f.ModTime), nullString(f.ETag), forced).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording %s of project %s in the ledger: %w", f.Name, project, err)
	}
	return id, nil
}

// Get returns one entry; ErrNotFound when there is none.
func (l *Ledger) Get(ctx context.Context, id int64) (*LedgerEntry, error) { return get(ctx, l.db, id) }

func get(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, id int64) (*LedgerEntry, error) {
	e, err := scanEntry(db.QueryRow(ctx, `SELECT `+entryColumns+` FROM source_files WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("ledger entry %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading ledger entry %d: %w", id, err)
	}
	return e, nil
}

// FindTaken returns the latest entry of project for this exact version of a file (same
// connection, path, size, modification time and ETag), whatever its outcome.
func (l *Ledger) FindTaken(ctx context.Context, project, connection string, f ingest.FileInfo) (*LedgerEntry, bool, error) {
	e, err := scanEntry(l.db.QueryRow(ctx, `
		SELECT `+entryColumns+` FROM source_files
		WHERE project = $1 AND connection = $2 AND path = $3 AND size = $4
		  AND modified_at IS NOT DISTINCT FROM $5 AND etag IS NOT DISTINCT FROM $6
		ORDER BY id DESC LIMIT 1`,
		project, connection, f.Name, f.Size, nullTime(f.ModTime), nullString(f.ETag)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("looking up %s of project %s in the ledger: %w", f.Name, project, err)
	}
	return e, true, nil
}

// importedQuery finds the entry of a project holding some content that was imported,
// partly imported or is being taken, preferring finished imports, then the oldest.
const importedQuery = `
	SELECT ` + entryColumns + ` FROM source_files
	WHERE project = $1 AND content_sha256 = $2 AND id <> $3
	  AND outcome IN ('imported', 'partial', 'taken')
	ORDER BY outcome = 'taken', id
	LIMIT 1`

// FindImported returns an entry of project whose content has the hash sum and which was
// imported, partly imported or is still being taken.
func (l *Ledger) FindImported(ctx context.Context, project string, sum [32]byte) (*LedgerEntry, bool, error) {
	e, err := scanEntry(l.db.QueryRow(ctx, importedQuery, project, sum[:], 0))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("looking up content of project %s in the ledger: %w", project, err)
	}
	return e, true, nil
}

// SetHash records the content hash of a taken file and checks it against the project's
// imports. prior is another entry with the same content that was imported, partly
// imported or is still being taken (see FindImported), nil when there is none. When there
// is one and the file was not forced, the file is marked a duplicate of it (outcome
// duplicate) in the same transaction, and duplicate is true: the caller skips the file.
//
// Calling SetHash again for a file already marked duplicate returns the same answer, so a
// retried job may repeat it; for a file whose job has ended it is an error.
func (l *Ledger) SetHash(ctx context.Context, fileID int64, sum [32]byte) (prior *LedgerEntry, duplicate bool, err error) {
	tx, err := l.db.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("setting the hash of ledger entry %d: %w", fileID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit

	self, err := scanEntry(tx.QueryRow(ctx, `SELECT `+entryColumns+` FROM source_files WHERE id = $1 FOR UPDATE`, fileID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("ledger entry %d: %w", fileID, ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("setting the hash of ledger entry %d: %w", fileID, err)
	}
	switch self.Outcome {
	case OutcomeTaken:
	case OutcomeDuplicate:
		if self.SHA256 == nil || *self.SHA256 != sum {
			return nil, false, fmt.Errorf("ledger entry %d is a duplicate of other content", fileID)
		}
		prior, err := get(ctx, tx, self.DuplicateOf)
		if err != nil {
			return nil, false, err
		}
		return prior, true, nil
	default:
		return nil, false, fmt.Errorf("ledger entry %d has ended (%s): its hash cannot change", fileID, self.Outcome)
	}

	// Serialise the check per (project, content): of two files with the same content, the
	// second to get here sees the first.
	key := lockkey.Content(self.Project, hex.EncodeToString(sum[:]))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+key.SQL(1)+`)`, key.Arg()); err != nil {
		return nil, false, fmt.Errorf("locking content of ledger entry %d: %w", fileID, err)
	}
	prior, err = scanEntry(tx.QueryRow(ctx, importedQuery, self.Project, sum[:], fileID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		prior = nil
	case err != nil:
		return nil, false, fmt.Errorf("looking up content of ledger entry %d: %w", fileID, err)
	}
	duplicate = prior != nil && !self.Forced
	var duplicateOf *int64
	outcome := OutcomeTaken
	if duplicate {
		duplicateOf, outcome = &prior.ID, OutcomeDuplicate
	}
	if _, err := tx.Exec(ctx, `
		UPDATE source_files SET content_sha256 = $2, outcome = $3, duplicate_of = $4, updated_at = now()
		WHERE id = $1`, fileID, sum[:], string(outcome), duplicateOf); err != nil {
		return nil, false, fmt.Errorf("setting the hash of ledger entry %d: %w", fileID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("setting the hash of ledger entry %d: %w", fileID, err)
	}
	return prior, duplicate, nil
}

// SetOutcome records how a file's job ended (imported, partial or failed) and where the
// file was moved ("" when it was not). For a duplicate, outcome is OutcomeDuplicate and
// only where it was moved changes.
func (l *Ledger) SetOutcome(ctx context.Context, fileID int64, outcome Outcome, movedTo string) error {
	var allowed []string
	switch outcome {
	case OutcomeImported, OutcomePartial, OutcomeFailed:
		allowed = []string{string(OutcomeTaken), string(OutcomeImported), string(OutcomePartial), string(OutcomeFailed)}
	case OutcomeDuplicate:
		allowed = []string{string(OutcomeDuplicate)}
	default:
		return fmt.Errorf("ledger entry %d: %q is not an outcome a job ends with", fileID, outcome)
	}
	tag, err := l.db.Exec(ctx, `
		UPDATE source_files SET outcome = $2, moved_to = $3, updated_at = now()
		WHERE id = $1 AND outcome = ANY($4)`, fileID, string(outcome), nullString(movedTo), allowed)
	if err != nil {
		return fmt.Errorf("setting the outcome of ledger entry %d: %w", fileID, err)
	}
	if tag.RowsAffected() == 0 {
		e, err := l.Get(ctx, fileID)
		if err != nil {
			return err
		}
		return fmt.Errorf("ledger entry %d is %s: it cannot become %s", fileID, e.Outcome, outcome)
	}
	return nil
}
