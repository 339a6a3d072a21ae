package jobhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/ingest"
)

// Sightings keeps, per (project, connection, file), the version of each file last listed
// and when that version was first seen (table file_sightings), for the stability rule
// ingest.Settle: an ingest.Watcher over it finishes on any node a min_age wait another
// node started, and a restart does not start it again.
type Sightings struct {
	db DBTX
}

// NewSightings returns the sightings in db.
func NewSightings(db DBTX) *Sightings { return &Sightings{db: db} }

// Update implements ingest.SightingStore. It runs in one transaction (a savepoint when db
// is a transaction) under an advisory lock per (project, connection), so that concurrent
// Updates, from any node, run one after the other and each sees what the one before
// stored; only the rows that change are written.
//
// The time passed to next is the database's statement time, read once the lock is held:
// every node reads the same clock, and a sighting stored by an Update that held the lock
// before is never later than it. When db is a transaction, the lock is held until that
// transaction ends; take it after any other advisory lock the transaction holds.
func (s *Sightings) Update(ctx context.Context, project, connection string, next func(now time.Time, prev []ingest.Sighting) []ingest.Sighting) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("updating the file sightings of project %s: %w", project, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit

	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('dmfpipe.sightings/' || $1 || '/' || $2, 0))`,
		project, connection); err != nil {
		return fmt.Errorf("locking the file sightings of project %s: %w", project, err)
	}
	var now time.Time
	// Not now(): that is when the transaction began, which may be a caller's transaction
	// older than the listing.
	if err := tx.QueryRow(ctx, `SELECT statement_timestamp()`).Scan(&now); err != nil {
		return fmt.Errorf("reading the database clock: %w", err)
	}
	prev, err := listSightings(ctx, tx, project, connection)
	if err != nil {
		return err
	}
	changed, gone, err := diffSightings(prev, next(now, prev))
	if err != nil {
		return fmt.Errorf("updating the file sightings of project %s: %w", project, err)
	}
	if len(gone) > 0 {
		if _, err := tx.Exec(ctx, `
			DELETE FROM file_sightings WHERE project = $1 AND connection = $2 AND path = ANY($3)`,
			project, connection, gone); err != nil {
			return fmt.Errorf("forgetting file sightings of project %s: %w", project, err)
		}
	}
	if len(changed) > 0 {
		if err := upsertSightings(ctx, tx, project, connection, changed); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("updating the file sightings of project %s: %w", project, err)
	}
	return nil
}

// List returns the sightings of a project's connection, ordered by name byte by byte (as
// Go compares strings, and as a Source lists).
func (s *Sightings) List(ctx context.Context, project, connection string) ([]ingest.Sighting, error) {
	return listSightings(ctx, s.db, project, connection)
}

func listSightings(ctx context.Context, db DBTX, project, connection string) ([]ingest.Sighting, error) {
	rows, err := db.Query(ctx, `
		SELECT path, size, modified_at, modified_nanos, etag, first_seen FROM file_sightings
		WHERE project = $1 AND connection = $2
		ORDER BY path COLLATE "C"`, project, connection)
	if err != nil {
		return nil, fmt.Errorf("reading the file sightings of project %s: %w", project, err)
	}
	sightings, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ingest.Sighting, error) {
		var (
			s        ingest.Sighting
			modified *time.Time
			nanos    int16
			etag     *string
		)
		if err := row.Scan(&s.File.Name, &s.File.Size, &modified, &nanos, &etag, &s.Since); err != nil {
			return s, err
		}
		if modified != nil {
			s.File.ModTime = modified.Add(time.Duration(nanos))
		}
		if etag != nil {
			s.File.ETag = *etag
		}
		return s, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the file sightings of project %s: %w", project, err)
	}
	return sightings, nil
}

// diffSightings returns the sightings of next that are new or differ from prev, and the
// names of prev that next leaves out.
func diffSightings(prev, next []ingest.Sighting) (changed []ingest.Sighting, gone []string, err error) {
	kept := make(map[string]bool, len(next))
	before := make(map[string]ingest.Sighting, len(prev))
	for _, s := range prev {
		before[s.File.Name] = s
	}
	for _, s := range next {
		if s.File.Name == "" {
			return nil, nil, errors.New("a sighting has no file name")
		}
		if kept[s.File.Name] {
			return nil, nil, fmt.Errorf("%s is sighted twice", s.File.Name)
		}
		kept[s.File.Name] = true
		if b, ok := before[s.File.Name]; !ok || !b.File.SameVersion(s.File) || !b.Since.Equal(s.Since) {
			changed = append(changed, s)
		}
	}
	for _, s := range prev {
		if !kept[s.File.Name] {
			gone = append(gone, s.File.Name)
		}
	}
	return changed, gone, nil
}

func upsertSightings(ctx context.Context, db DBTX, project, connection string, sightings []ingest.Sighting) error {
	n := len(sightings)
	var (
		paths    = make([]string, n)
		sizes    = make([]int64, n)
		modified = make([]*time.Time, n)
		nanos    = make([]int16, n)
		etags    = make([]*string, n)
		since    = make([]time.Time, n)
	)
	for i, s := range sightings {
		paths[i], sizes[i], etags[i], since[i] = s.File.Name, s.File.Size, nullString(s.File.ETag), s.Since
		if !s.File.ModTime.IsZero() {
			// Postgres keeps microseconds; the nanoseconds below go in their own column.
			us := s.File.ModTime.Truncate(time.Microsecond)
			modified[i], nanos[i] = &us, int16(s.File.ModTime.Sub(us))
		}
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO file_sightings (project, connection, path, size, modified_at, modified_nanos, etag, first_seen)
		SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::timestamptz[], $6::smallint[], $7::text[], $8::timestamptz[])
		ON CONFLICT (project, connection, path) DO UPDATE SET
			size = excluded.size, modified_at = excluded.modified_at, modified_nanos = excluded.modified_nanos,
			etag = excluded.etag, first_seen = excluded.first_seen`,
		project, connection, paths, sizes, modified, nanos, etags, since); err != nil {
		return fmt.Errorf("storing file sightings of project %s: %w", project, err)
	}
	return nil
}

var _ ingest.SightingStore = (*Sightings)(nil)
