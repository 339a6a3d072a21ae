package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/dmfpipe/dmfpipe/scheduler"
)

// Liveness and reclaim.
//
// River has no heartbeat: a job whose process was killed stays `running` until River's
// rescuer takes it for stuck, rescueAfter (hours) later. So every Worker (one River
// client, one process) proves it is alive with a session advisory lock keyed on its River
// client ID, taken on a connection of its own before the client starts and held until the
// client has stopped. Another node tells a dead owner from a live one by trying that lock:
// if it can take it, the session that held it is gone, and so is the process.
//
// The reclaimer, on every node, at Start and then every Deps.ReclaimInterval, finds the
// running jobs of dmfpipe's kinds whose last attempt belongs to a dead node and makes them
// available again at once, as River's own rescuer would hours later: an error entry saying
// why, cancelled when a cancel was asked, discarded when the attempts are used up, else
// available now. Each stage is safe to run again (see doc.go).
//
// The lock needs a real session: the database URL must not go through a pooler in
// transaction mode (River's LISTEN/NOTIFY needs a session too).
//
// Losing the liveness connection (a failed ping) means the lock is gone and other nodes
// will reclaim this node's running jobs: this node then stops working rather than race
// them (fail-stop). It cancels its running jobs, stops its River client, logs an error
// and closes Lost(); the process is expected to exit and be restarted (systemd,
// Kubernetes; `pipeline run` is run again and resumes). Re-taking the lock in place would
// not be safe: the jobs reclaimed meanwhile may already run elsewhere.

// DefaultReclaimInterval is how often a node looks for the running jobs of dead nodes.
const DefaultReclaimInterval = 15 * time.Second

// livenessLockTimeout bounds the wait for this node's own liveness lock at Start: a node
// restarted with a fixed Deps.ID waits for its predecessor's session to end.
const livenessLockTimeout = 30 * time.Second

// reclaimBatch bounds the running jobs one reclaim pass reads.
const reclaimBatch = 1000

// ErrLivenessLost is returned (wrapped) by WaitJob once this node's liveness lock is lost.
var ErrLivenessLost = errors.New("the node's liveness lock was lost: it stopped working; restart the process")

// livenessKeySQL is the advisory lock key of a node ID ($1).
const livenessKeySQL = `hashtextextended('dmfpipe.node/' || $1::text, 0)`

// kinds are the River job kinds this package works, the ones the reclaimer may take.
var kinds = []string{
	scheduler.Kind, IngestArgs{}.Kind(), UploadArgs{}.Kind(), PollArgs{}.Kind(),
	FinalizeArgs{}.Kind(), NotifyArgs{}.Kind(), PurgeArgs{}.Kind(), SweepArgs{}.Kind(),
}

// nodeID is a River client ID unique to this process: host, pid and a random suffix.
func nodeID() string {
	host, _ := os.Hostname()
	host = nonIDChars.ReplaceAllString(host, "_")
	if host == "" {
		host = "unknown"
	}
	if len(host) > 60 {
		host = host[:60]
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

var nonIDChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// ID is this node's River client ID, the one its jobs' attempted_by names.
func (w *Worker) ID() string { return w.id }

// Lost is closed when this node has lost its liveness lock and stopped working.
func (w *Worker) Lost() <-chan struct{} { return w.lost }

// takeLiveness opens the liveness connection and takes this node's lock on it.
func (w *Worker) takeLiveness(ctx context.Context) error {
	cc := w.pool.Config().ConnConfig.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = livenessAppName(w.id)
	// If this machine vanishes (power, network) the server must end the session, and so
	// free the lock, within seconds rather than after the kernel's two-hour keepalive
	// default. (Ignored on a Unix socket, where a dead peer is seen at once.)
	cc.RuntimeParams["tcp_keepalives_idle"] = "10"
	cc.RuntimeParams["tcp_keepalives_interval"] = "5"
	cc.RuntimeParams["tcp_keepalives_count"] = "3"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("worker: opening the liveness connection: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, livenessLockTimeout)
	defer cancel()
	if _, err := conn.Exec(lctx, `SELECT pg_advisory_lock(`+livenessKeySQL+`)`, w.id); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("worker: taking the liveness lock of node %s (is another live process using this ID?): %w", w.id, err)
	}
	w.live = conn
	return nil
}

// livenessAppName is the application_name of a node's liveness connection.
func livenessAppName(id string) string {
	s := "dmfpipe-node " + id
	if len(s) > 63 { // NAMEDATALEN - 1
		s = s[:63]
	}
	return s
}

// watch runs until the River client has stopped: it pings the liveness connection and
// reclaims the jobs of dead nodes, then releases the lock. It owns w.live.
func (w *Worker) watch(stopped <-chan struct{}) {
	defer close(w.watchDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stopped
		cancel()
	}()
	defer w.releaseLiveness()

	ping := time.NewTicker(max(w.reclaimEvery/3, 20*time.Millisecond))
	defer ping.Stop()
	reclaim := time.NewTicker(w.reclaimEvery)
	defer reclaim.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if !w.checkLiveness(ctx) {
				return
			}
		case <-reclaim.C:
			if _, err := w.reclaim(ctx, false); err != nil && ctx.Err() == nil {
				w.log.Error("reclaiming the jobs of dead nodes", "err", err)
			}
		}
	}
}

// checkLiveness pings the liveness connection; on failure it stops this node (see the
// package's liveness notes) and reports false.
func (w *Worker) checkLiveness(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, max(w.reclaimEvery, 5*time.Second))
	err := w.live.Ping(pctx)
	cancel()
	if err == nil || ctx.Err() != nil {
		return true
	}
	w.log.Error("LIVENESS LOCK LOST: the node's database session is gone and other nodes will reclaim its jobs; "+
		"cancelling this node's work and stopping it", "node", w.id, "err", err)
	close(w.lost)
	go func() {
		if err := w.client.StopAndCancel(context.Background()); err != nil {
			w.log.Error("stopping the river client after losing the liveness lock", "err", err)
		}
	}()
	return false
}

// releaseLiveness unlocks and closes the liveness connection.
func (w *Worker) releaseLiveness() {
	if w.live == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Closing the session releases the lock; the explicit unlock is for clarity in logs.
	if !w.live.IsClosed() {
		if _, err := w.live.Exec(ctx, `SELECT pg_advisory_unlock(`+livenessKeySQL+`)`, w.id); err != nil {
			w.log.Warn("releasing the liveness lock", "node", w.id, "err", err)
		}
	}
	_ = w.live.Close(ctx)
	w.live = nil
}

// reclaimed is a job taken back from a dead node.
type reclaimed struct {
	ID    int64
	Kind  string
	Owner string
	State rivertype.JobState
	Args  []byte
}

// reclaim makes the running jobs of dead nodes runnable again and returns them. With own,
// the jobs attempted under this node's own ID are taken too: only before this node's
// client starts, when they can only be a dead predecessor's with the same ID.
func (w *Worker) reclaim(ctx context.Context, own bool) ([]reclaimed, error) {
	rows, err := w.pool.Query(ctx, `
		SELECT DISTINCT attempted_by[array_length(attempted_by, 1)]
		FROM river_job
		WHERE state = 'running' AND kind = ANY($1) AND array_length(attempted_by, 1) > 0
		LIMIT $2`, kinds, reclaimBatch)
	if err != nil {
		return nil, fmt.Errorf("listing the owners of running jobs: %w", err)
	}
	owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing the owners of running jobs: %w", err)
	}
	var out []reclaimed
	for _, owner := range owners {
		if owner == w.id && !own {
			continue
		}
		jobs, err := w.reclaimOwner(ctx, owner, owner == w.id)
		if err != nil {
			return out, err
		}
		out = append(out, jobs...)
	}
	for _, j := range out {
		w.recordReclaim(ctx, j)
	}
	return out, nil
}

// reclaimOwner reclaims the running jobs of owner when it is dead: in one transaction that
// holds owner's lock (transaction-scoped, released at commit) while the jobs change. self
// skips the lock test (this node holds its own lock; see reclaim).
func (w *Worker) reclaimOwner(ctx context.Context, owner string, self bool) ([]reclaimed, error) {
	var out []reclaimed
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if !self {
			var free bool
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(`+livenessKeySQL+`)`, owner).Scan(&free); err != nil {
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
			FOR UPDATE`, kinds, owner, reclaimBatch)
		if err != nil {
			return fmt.Errorf("reading the running jobs of node %s: %w", owner, err)
		}
		type job struct {
			reclaimed
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
				Error: fmt.Sprintf("reclaimed by node %s: node %s, which ran this attempt, is dead (its liveness lock is free)", w.id, owner)})
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
			out = append(out, j.reclaimed)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// recordReclaim logs a reclaimed job and records it on its import job's timeline.
func (w *Worker) recordReclaim(ctx context.Context, j reclaimed) {
	level := "warn"
	msg := fmt.Sprintf("%s job %d reclaimed from dead node %s: running again", j.Kind, j.ID, j.Owner)
	switch j.State {
	case rivertype.JobStateDiscarded:
		level = "error"
		msg = fmt.Sprintf("%s job %d of dead node %s discarded: its attempts are used up; the job needs an operator", j.Kind, j.ID, j.Owner)
	case rivertype.JobStateCancelled:
		msg = fmt.Sprintf("%s job %d of dead node %s cancelled, as asked while it ran", j.Kind, j.ID, j.Owner)
	}
	w.log.Warn(msg, "river_job", j.ID, "kind", j.Kind, "dead_node", j.Owner, "state", j.State)
	job, ok := w.importJobOf(ctx, j)
	if !ok {
		return
	}
	w.event(ctx, job, stageOfKind(j.Kind), level, msg,
		map[string]any{"river_job": j.ID, "dead_node": j.Owner, "node": w.id, "state": string(j.State)})
	if j.State == rivertype.JobStateDiscarded {
		w.failDiscarded(ctx, job, j)
	}
}

// failDiscarded ends the part of an import job that a discarded stage leaves open, as
// the stage itself does on its last attempt: the job fails after an ingest, the chunk
// after an upload or a poll. A finalize or notify discarded leaves nothing to do.
func (w *Worker) failDiscarded(ctx context.Context, job int64, j reclaimed) {
	cause := fmt.Errorf("%s ran out of attempts: its last one died with node %s", j.Kind, j.Owner)
	var err error
	switch j.Kind {
	case IngestArgs{}.Kind():
		err = w.failJob(ctx, job, "ingest", cause)
	case UploadArgs{}.Kind(), PollArgs{}.Kind():
		var a struct {
			ChunkNo     int    `json:"chunk_no"`
			ExecutionID string `json:"execution_id"`
		}
		if err = json.Unmarshal(j.Args, &a); err != nil {
			break
		}
		if a.ExecutionID != "" {
			ex, _, xerr := history(w.pool).Execution(ctx, a.ExecutionID)
			if xerr != nil {
				err = xerr
				break
			}
			a.ChunkNo = ex.ChunkNo
		}
		c, cerr := history(w.pool).Chunk(ctx, job, a.ChunkNo)
		if cerr != nil {
			err = cerr
			break
		}
		err = w.failChunk(ctx, c, cause)
	default:
		return
	}
	// failJob and failChunk answer a River cancel once they have recorded the failure.
	var cancelled *rivertype.JobCancelError
	if err != nil && !errors.As(err, &cancelled) {
		w.log.Error("failing the job of a discarded stage", "job", job, "river_job", j.ID, "err", err)
	}
}

// importJobOf is the import job a reclaimed River job works on, if any.
func (w *Worker) importJobOf(ctx context.Context, j reclaimed) (int64, bool) {
	var a struct {
		JobID       int64  `json:"job_id"`
		ExecutionID string `json:"execution_id"`
	}
	if err := json.Unmarshal(j.Args, &a); err != nil {
		return 0, false
	}
	if a.JobID != 0 {
		return a.JobID, true
	}
	if a.ExecutionID == "" {
		return 0, false
	}
	ex, ok, err := history(w.pool).Execution(ctx, a.ExecutionID)
	if err != nil || !ok {
		return 0, false
	}
	return ex.JobID, true
}

// stageOfKind is the import stage a job kind runs.
func stageOfKind(kind string) string {
	switch kind {
	case IngestArgs{}.Kind():
		return "ingest"
	case UploadArgs{}.Kind():
		return "upload"
	case PollArgs{}.Kind():
		return "poll"
	case FinalizeArgs{}.Kind():
		return "finalize"
	case NotifyArgs{}.Kind():
		return "notify"
	}
	return "discover"
}
