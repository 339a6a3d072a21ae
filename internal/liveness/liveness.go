// Package liveness is what dmfpipe must do with River's own tables where River has no API:
// tell a live node from a dead one, and take back at once the running jobs of a dead node.
//
// River has no heartbeat: a job whose process was killed stays `running` until River's
// rescuer takes it for stuck, hours later (its RescueStuckJobsAfter). So every node (one
// River client, one process) proves it is alive with a session advisory lock keyed on its
// River client ID (lockkey.Node), taken on a connection of its own before the client
// starts and held until the client has stopped. Another node tells a dead owner from a
// live one by trying that lock: if it can take it, the session that held it is gone, and
// so is the process.
//
// Reclaim finds the running jobs of the given kinds whose last attempt belongs to a dead
// node and makes them available again at once, as River's rescuer would hours later: an
// error entry saying why, cancelled when a cancel was asked, discarded when the attempts
// are used up, else available now. Everything it relies on in River's schema (the
// river_job columns and the river_job_state values) is pinned by this package's test,
// which fails when a River upgrade changes them.
//
// The lock needs a real session: the database URL must not go through a pooler in
// transaction mode (River's LISTEN/NOTIFY needs a session too).
package liveness

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/dmfpipe/dmfpipe/internal/dbtx"
	"github.com/dmfpipe/dmfpipe/internal/lockkey"
)

// DBTX is a database handle: a pool, a connection or a transaction.
type DBTX = dbtx.DBTX

// Lock is a node's liveness lock, held on a connection of its own.
type Lock struct {
	id   string
	conn *pgx.Conn
}

// Take opens a connection with cfg and takes the liveness lock of node id on it, waiting
// up to wait for a predecessor's session with the same ID to end.
func Take(ctx context.Context, cfg *pgx.ConnConfig, id string, wait time.Duration) (*Lock, error) {
	cc := cfg.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = AppName(id)
	// If this machine vanishes (power, network) the server must end the session, and so
	// free the lock, within seconds rather than after the kernel's two-hour keepalive
	// default. (Ignored on a Unix socket, where a dead peer is seen at once.)
	cc.RuntimeParams["tcp_keepalives_idle"] = "10"
	cc.RuntimeParams["tcp_keepalives_interval"] = "5"
	cc.RuntimeParams["tcp_keepalives_count"] = "3"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("opening the liveness connection: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	key := lockkey.Node(id)
	if _, err := conn.Exec(lctx, `SELECT pg_advisory_lock(`+key.SQL(1)+`)`, key.Arg()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("taking the liveness lock of node %s (is another live process using this ID?): %w", id, err)
	}
	return &Lock{id: id, conn: conn}, nil
}

// AppName is the application_name of a node's liveness connection (NAMEDATALEN - 1),
// as pg_stat_activity shows it.
func AppName(id string) string {
	s := "dmfpipe-node " + id
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// Ping checks that the lock's session is still there.
func (l *Lock) Ping(ctx context.Context) error { return l.conn.Ping(ctx) }

// Release unlocks and closes the connection; the lock is free afterwards even when the
// unlock cannot be sent (closing the session frees it).
func (l *Lock) Release(ctx context.Context) error {
	var err error
	if !l.conn.IsClosed() {
		key := lockkey.Node(l.id)
		if _, uerr := l.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+key.SQL(1)+`)`, key.Arg()); uerr != nil {
			err = fmt.Errorf("releasing the liveness lock of node %s: %w", l.id, uerr)
		}
	}
	_ = l.conn.Close(ctx)
	return err
}

// Alive reports whether node id holds its liveness lock. The test takes the lock for the
// transaction's length only; db must not be a connection holding id's own lock.
func Alive(ctx context.Context, db DBTX, id string) (bool, error) {
	var free bool
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		key := lockkey.Node(id)
		return tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(`+key.SQL(1)+`)`, key.Arg()).Scan(&free)
	})
	if err != nil {
		return false, fmt.Errorf("testing the liveness of node %s: %w", id, err)
	}
	return !free, nil
}

// Reclaimed is a River job taken back from a dead node.
type Reclaimed struct {
	ID    int64
	Kind  string
	Owner string
	// State is what the job became: available, cancelled or discarded.
	State rivertype.JobState
	Args  []byte
}

// batch bounds the running jobs one pass reads.
const batch = 1000

// Reclaim makes the running jobs of kinds whose last attempt belongs to a dead node
// runnable again and returns them; by names the node doing it in the jobs' error entries.
// With self set, the jobs attempted under that ID are taken too, without a lock test:
// only before that node's own River client starts, when they can only be a dead
// predecessor's with the same ID.
func Reclaim(ctx context.Context, db DBTX, kinds []string, by, self string) ([]Reclaimed, error) {
	rows, err := db.Query(ctx, `
		SELECT DISTINCT attempted_by[array_length(attempted_by, 1)]
		FROM river_job
		WHERE state = 'running' AND kind = ANY($1) AND array_length(attempted_by, 1) > 0
		LIMIT $2`, kinds, batch)
	if err != nil {
		return nil, fmt.Errorf("listing the owners of running jobs: %w", err)
	}
	owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing the owners of running jobs: %w", err)
	}
	var out []Reclaimed
	for _, owner := range owners {
		if owner == by && owner != self {
			continue // this node's own, running here
		}
		jobs, err := reclaimOwner(ctx, db, kinds, by, owner, owner == self)
		if err != nil {
			return out, err
		}
		out = append(out, jobs...)
	}
	return out, nil
}

// reclaimOwner reclaims the running jobs of owner when it is dead: in one transaction that
// holds owner's lock (transaction-scoped, released at commit) while the jobs change.
// noTest skips the lock test (see Reclaim's self).
func reclaimOwner(ctx context.Context, db DBTX, kinds []string, by, owner string, noTest bool) ([]Reclaimed, error) {
	var out []Reclaimed
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if !noTest {
			var free bool
			key := lockkey.Node(owner)
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(`+key.SQL(1)+`)`, key.Arg()).Scan(&free); err != nil {
				return fmt.Errorf("testing the liveness of node %s: %w", owner, err)
			}
			if !free {
				return nil // a live node: never touch its jobs
			}
		}
		rows, err := tx.Query(ctx, `
			SELECT id, kind, args, attempt, max_attempts, metadata ? 'cancel_attempted_at'
			FROM river_job
			WHERE state = 'running' AND kind = ANY($1) AND attempted_by[array_length(attempted_by, 1)] = $2
			ORDER BY id LIMIT $3
			FOR UPDATE`, kinds, owner, batch)
		if err != nil {
			return fmt.Errorf("reading the running jobs of node %s: %w", owner, err)
		}
		type job struct {
			Reclaimed
			attempt, maxAttempts int
			cancel               bool
		}
		jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (job, error) {
			j := job{}
			j.Owner = owner
			err := r.Scan(&j.ID, &j.Kind, &j.Args, &j.attempt, &j.maxAttempts, &j.cancel)
			return j, err
		})
		if err != nil {
			return fmt.Errorf("reading the running jobs of node %s: %w", owner, err)
		}
		now := time.Now().UTC()
		for _, j := range jobs {
			// As River's rescuer: a cancel asked while the job ran wins, a job out of
			// attempts is discarded, any other runs again, here at once.
			j.State = rivertype.JobStateAvailable
			switch {
			case j.cancel:
				j.State = rivertype.JobStateCancelled
			case j.attempt >= j.maxAttempts:
				j.State = rivertype.JobStateDiscarded
			}
			entry, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.attempt, 0),
				Error: fmt.Sprintf("reclaimed by node %s: node %s, which ran this attempt, is dead (its liveness lock is free)", by, owner)})
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `
				UPDATE river_job SET
				    state = $2::river_job_state,
				    errors = array_append(errors, $3::jsonb),
				    finalized_at = CASE WHEN $2 = 'available' THEN NULL ELSE now() END,
				    scheduled_at = CASE WHEN $2 = 'available' THEN now() ELSE scheduled_at END,
				    metadata = metadata || jsonb_build_object('dmfpipe:reclaimed_from', $4::text,
				        'river:rescue_count', coalesce(CASE WHEN jsonb_typeof(metadata -> 'river:rescue_count') = 'number'
				            THEN (metadata ->> 'river:rescue_count')::int END, 0) + 1)
				WHERE id = $1`, j.ID, string(j.State), entry, owner); err != nil {
				return fmt.Errorf("reclaiming river job %d of node %s: %w", j.ID, owner, err)
			}
			out = append(out, j.Reclaimed)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QueueDepth counts the River jobs of kinds that wait or run, by queue and state
// (available, scheduled, retryable, running), for /metrics: River has no count API.
func QueueDepth(ctx context.Context, db DBTX, kinds []string) (map[string]map[string]int64, error) {
	rows, err := db.Query(ctx, `SELECT queue, state::text, count(*) FROM river_job
		WHERE kind = ANY($1) AND state IN ('available', 'scheduled', 'retryable', 'running', 'pending')
		GROUP BY queue, state`, kinds)
	if err != nil {
		return nil, fmt.Errorf("counting River's queues: %w", err)
	}
	out := map[string]map[string]int64{}
	var (
		queue, state string
		n            int64
	)
	_, err = pgx.ForEachRow(rows, []any{&queue, &state, &n}, func() error {
		if out[queue] == nil {
			out[queue] = map[string]int64{}
		}
		out[queue][state] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting River's queues: %w", err)
	}
	return out, nil
}
