package jobhistory

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Node is a running dmfpipe process that works River jobs (table nodes).
type Node struct {
	ID   string
	Host string
	PID  int
	// Foreground is true for a `pipeline run`, which works its own jobs only.
	Foreground bool
	// Projects are the projects the node knows: name → version (the fingerprint of its
	// configuration).
	Projects map[string]string
	// Schedules are the schedules of its scheduled projects, by project.
	Schedules map[string]Schedule
	StartedAt time.Time
	SeenAt    time.Time
}

// Schedule is a project's cron schedule as a node's configuration has it.
type Schedule struct {
	Cron     string `json:"cron"`
	Timezone string `json:"timezone,omitempty"`
}

// RegisterNode records a node that starts working (replacing an earlier row of its ID).
func (s *Store) RegisterNode(ctx context.Context, n Node) error {
	if _, err := s.db.Exec(ctx, `
		INSERT INTO nodes (id, host, pid, foreground, projects, schedules) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, foreground = EXCLUDED.foreground,
		    projects = EXCLUDED.projects, schedules = EXCLUDED.schedules, started_at = now(), seen_at = now()`,
		n.ID, n.Host, n.PID, n.Foreground, nonNilMap(n.Projects), nonNilMap(n.Schedules)); err != nil {
		return fmt.Errorf("registering node %s: %w", n.ID, err)
	}
	return nil
}

// TouchNode records that a node is still alive (and re-registers it when its row was
// removed meanwhile, e.g. while the database was unreachable).
func (s *Store) TouchNode(ctx context.Context, n Node) error {
	tag, err := s.db.Exec(ctx, `UPDATE nodes SET seen_at = now() WHERE id = $1`, n.ID)
	if err != nil {
		return fmt.Errorf("refreshing node %s: %w", n.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return s.RegisterNode(ctx, n)
	}
	return nil
}

// RemoveNode deletes a node's row: it stopped, or it is dead.
func (s *Store) RemoveNode(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, id); err != nil {
		return fmt.Errorf("removing node %s: %w", id, err)
	}
	return nil
}

// Nodes returns the registered nodes, oldest first.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := s.db.Query(ctx, `SELECT id, host, pid, foreground, projects, schedules, started_at, seen_at FROM nodes ORDER BY started_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		err := r.Scan(&n.ID, &n.Host, &n.PID, &n.Foreground, &n.Projects, &n.Schedules, &n.StartedAt, &n.SeenAt)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	return nodes, nil
}

// NodesKnowing returns the IDs of the nodes, other than except, that know project at
// version (any version for "") and were seen within fresh, foreground ones included only
// with foreground.
func (s *Store) NodesKnowing(ctx context.Context, project, version, except string, foreground bool, fresh time.Duration) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM nodes
		WHERE projects ? $1 AND ($2 = '' OR projects ->> $1 = $2) AND id <> $3 AND (foreground = false OR $4) AND seen_at > now() - $5::interval
		ORDER BY id`, project, version, except, foreground, fresh)
	if err != nil {
		return nil, fmt.Errorf("finding the nodes that know project %s: %w", project, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("finding the nodes that know project %s: %w", project, err)
	}
	return ids, nil
}

func nonNilMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}
