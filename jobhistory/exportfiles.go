package jobhistory

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The kinds of file an export writes (export_files.kind).
const (
	ExportData     = "data"
	ExportRaw      = "raw"
	ExportManifest = "manifest"
)

// ExportFile is a file an export job committed to its destination (table export_files,
// migration 00006).
type ExportFile struct {
	JobID int64
	// Unit is the package the file comes from: a package export's execution id, a
	// recurring message's CorrelationId.
	Unit string
	// Kind is ExportData, ExportRaw or ExportManifest.
	Kind string
	// Entity and Part locate a data file: the entity's DMF name and its part, from 1.
	Entity string
	Part   int
	// Connection and Path say where it is: a connection of the config and the file's
	// name in it.
	Connection string
	Path       string
	Rows       int64
	Bytes      int64
	// SHA256 is the digest of the file's bytes as written.
	SHA256    []byte
	WrittenAt time.Time
}

// RecordExportFile records a file committed under its final name. Recording it again (a
// step run again after a crash found the same content there) keeps the first record.
func (s *Store) RecordExportFile(ctx context.Context, f ExportFile) error {
	if _, err := s.db.Exec(ctx, `
		INSERT INTO export_files (job_id, unit, kind, entity, part, connection, path, rows, bytes, sha256)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (job_id, unit, path) DO NOTHING`,
		f.JobID, f.Unit, f.Kind, f.Entity, f.Part, f.Connection, f.Path, f.Rows, f.Bytes, f.SHA256); err != nil {
		return fmt.Errorf("recording export file %s of job %d: %w", f.Path, f.JobID, err)
	}
	return nil
}

// ExportFiles returns the files a job wrote, in the order they were committed; unit ""
// means every unit's.
func (s *Store) ExportFiles(ctx context.Context, job int64, unit string) ([]ExportFile, error) {
	rows, err := s.db.Query(ctx, `
		SELECT job_id, unit, kind, entity, part, connection, path, rows, bytes, sha256, written_at
		FROM export_files WHERE job_id = $1 AND ($2 = '' OR unit = $2) ORDER BY written_at, path`, job, unit)
	if err != nil {
		return nil, fmt.Errorf("reading the export files of job %d: %w", job, err)
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ExportFile, error) {
		var f ExportFile
		err := r.Scan(&f.JobID, &f.Unit, &f.Kind, &f.Entity, &f.Part, &f.Connection, &f.Path, &f.Rows, &f.Bytes, &f.SHA256, &f.WrittenAt)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the export files of job %d: %w", job, err)
	}
	return files, nil
}
