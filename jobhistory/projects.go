package jobhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PauseRecord is a pause or resume an operator recorded for a project (table projects).
type PauseRecord struct {
	Project string
	Paused  bool
	// By is who paused it; empty for a resume.
	By        string
	UpdatedAt time.Time
}

// SetPaused records that by paused (or, with paused false, resumed) project; it overrides
// the project's configuration on every node.
func (s *Store) SetPaused(ctx context.Context, project string, paused bool, by string) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO projects (name, paused, paused_by, updated_at)
		VALUES ($1, $2, NULLIF($3, ''), now())
		ON CONFLICT (name) DO UPDATE
		SET paused = EXCLUDED.paused, paused_by = EXCLUDED.paused_by, updated_at = EXCLUDED.updated_at`,
		project, paused, by)
	if err != nil {
		return fmt.Errorf("recording pause state of project %q: %w", project, err)
	}
	return nil
}

// PauseRecordOf returns what was recorded for project; ok is false when nothing was.
func (s *Store) PauseRecordOf(ctx context.Context, project string) (r PauseRecord, ok bool, err error) {
	r.Project = project
	err = s.db.QueryRow(ctx, `SELECT paused, coalesce(paused_by, ''), updated_at FROM projects WHERE name = $1`, project).
		Scan(&r.Paused, &r.By, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("reading pause state of project %q: %w", project, err)
	}
	return r, true, nil
}

// PauseRecords returns every project's recorded pause state, by name.
func (s *Store) PauseRecords(ctx context.Context) ([]PauseRecord, error) {
	rows, err := s.db.Query(ctx, `SELECT name, paused, coalesce(paused_by, ''), updated_at FROM projects ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing project states: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PauseRecord, error) {
		var r PauseRecord
		err := row.Scan(&r.Project, &r.Paused, &r.By, &r.UpdatedAt)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing project states: %w", err)
	}
	return recs, nil
}

// The actions of a project's audit trail.
const (
	ProjectPause  = "pause"
	ProjectResume = "resume"
	ProjectRunNow = "run_now"
)

// ProjectEntry is an entry of a project's audit trail (table project_audit).
type ProjectEntry struct {
	ID      int64          `json:"id"`
	Project string         `json:"project"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Attrs   map[string]any `json:"attrs,omitempty"`
}

// AddProjectEntry records that e.Actor did e.Action to e.Project, now.
func (s *Store) AddProjectEntry(ctx context.Context, e ProjectEntry) error {
	_, err := s.db.Exec(ctx, `INSERT INTO project_audit (project, actor, action, attrs) VALUES ($1, $2, $3, $4)`,
		e.Project, e.Actor, e.Action, nilIfEmpty(e.Attrs))
	if err != nil {
		return fmt.Errorf("recording %s of project %q in its audit trail: %w", e.Action, e.Project, err)
	}
	return nil
}

// ProjectEntries returns the latest limit entries of a project's audit trail, newest
// first.
func (s *Store) ProjectEntries(ctx context.Context, project string, limit int) ([]ProjectEntry, error) {
	rows, err := s.db.Query(ctx, `SELECT id, project, at, actor, action, attrs FROM project_audit
		WHERE project = $1 ORDER BY id DESC LIMIT $2`, project, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of project %q: %w", project, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProjectEntry, error) {
		var e ProjectEntry
		err := r.Scan(&e.ID, &e.Project, &e.At, &e.Actor, &e.Action, &e.Attrs)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of project %q: %w", project, err)
	}
	return out, nil
}
