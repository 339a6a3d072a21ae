package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/liveness"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// Liveness, reclaim and reconnection (the River side is in internal/liveness).
//
// Every node holds a liveness lock on a connection of its own for as long as its River
// client runs; at Start and every Deps.ReclaimInterval it takes back at once the running
// jobs of nodes whose lock is free, refreshes its row in the node registry (the projects
// it knows, by version) and removes the rows of dead nodes.
//
// Losing the liveness connection (a failed ping: a database restart, a network cut)
// means the lock is gone and other nodes may reclaim this node's running jobs, so the
// node stops working at once (its running jobs are cancelled) and /readyz says so. A
// foreground run then stops for good (Lost is closed; the job resumes at the next run). A
// serve node reconnects with backoff: once it holds its lock again it takes back its own
// jobs that were running when it stopped, and starts working again, without a restart
// of the process. When it cannot within Deps.ReconnectTimeout it gives up: Lost is closed
// and the process is expected to exit non-zero (systemd or Kubernetes restart it).

// DefaultReclaimInterval is how often a node looks for the running jobs of dead nodes.
const DefaultReclaimInterval = 15 * time.Second

// DefaultReconnectTimeout is how long a serve node tries to get the database back.
const DefaultReconnectTimeout = 10 * time.Minute

// livenessLockTimeout bounds the wait for this node's own liveness lock at Start: a node
// restarted with a fixed Deps.ID waits for its predecessor's session to end.
const livenessLockTimeout = 30 * time.Second

// stopAfterLoss bounds the wait for the running jobs to end once the database is lost.
const stopAfterLoss = 2 * time.Minute

// ErrLivenessLost is returned (wrapped) by WaitJob once this node has lost the database
// for good and stopped working.
var ErrLivenessLost = errors.New("the node lost its database session and stopped working")

// kinds are the River job kinds this package works, the ones the reclaimer may take.
var kinds = append([]string{
	scheduler.Kind, IngestArgs{}.Kind(), UploadArgs{}.Kind(), PollArgs{}.Kind(),
	FinalizeArgs{}.Kind(), NotifyArgs{}.Kind(), PurgeArgs{}.Kind(), SweepArgs{}.Kind(), BulkArgs{}.Kind(),
}, slices.Sorted(maps.Values(exportKinds))...)

// Kinds are the River job kinds a worker runs.
func Kinds() []string { return slices.Clone(kinds) }

// reclaimed is a job taken back from a dead node.
type reclaimed = liveness.Reclaimed

// nodeID is a River client ID unique to this process: host, pid and a random suffix.
func nodeID() string {
	host := nonIDChars.ReplaceAllString(nodeHost(), "_")
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

// Lost is closed when this node has lost the database for good and stopped working.
func (w *Worker) Lost() <-chan struct{} { return w.lost }

func (w *Worker) markLost() { w.lostOnce.Do(func() { close(w.lost) }) }

// node is this node's registry entry.
func (w *Worker) node() jobhistory.Node {
	n := jobhistory.Node{ID: w.id, Host: nodeHost(), PID: os.Getpid(), Foreground: w.foreground != "", Projects: w.projects}
	if w.periodic {
		n.Schedules = ownSchedules(w.cfg)
	}
	return n
}

// takeLiveness takes this node's lock, reclaims the jobs of dead nodes and of a dead
// predecessor with this node's ID, and registers the node.
func (w *Worker) takeLiveness(ctx context.Context) error {
	lock, err := liveness.Take(ctx, w.pool.Config().ConnConfig, w.id, livenessLockTimeout)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	w.live = lock
	if _, err := w.reclaim(ctx, true); err != nil {
		w.log.Error("reclaiming the jobs of dead nodes", "err", err)
	}
	if err := jobhistory.NewStore(w.pool).RegisterNode(ctx, w.node()); err != nil {
		w.releaseLiveness()
		return fmt.Errorf("worker: %w", err)
	}
	w.stopping = make(chan struct{})
	return nil
}

// releaseLiveness deregisters the node and releases its lock.
func (w *Worker) releaseLiveness() {
	if w.live == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := jobhistory.NewStore(w.pool).RemoveNode(ctx, w.id); err != nil {
		w.log.Warn("removing the node's registration", "node", w.id, "err", err)
	}
	if err := w.live.Release(ctx); err != nil {
		w.log.Warn("releasing the liveness lock", "node", w.id, "err", err)
	}
	w.live = nil
}

// stopWatch asks the watch to release the lock once the River client has stopped.
func (w *Worker) stopWatch() {
	w.stopOnce.Do(func() { close(w.stopping) })
}

// watch runs until the node stops: it pings the liveness connection (recovering when it
// is lost), reclaims the jobs of dead nodes and keeps the node's registration fresh, then
// releases the lock once the River client has stopped. It owns w.live.
func (w *Worker) watch() {
	defer close(w.watchDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ping := time.NewTicker(max(w.reclaimEvery/3, 20*time.Millisecond))
	defer ping.Stop()
	tick := time.NewTicker(w.reclaimEvery)
	defer tick.Stop()
	for {
		select {
		case <-w.stopping:
			<-w.client.Stopped()
			w.releaseLiveness()
			return
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, max(w.reclaimEvery, 5*time.Second))
			err := w.live.Ping(pctx)
			pcancel()
			if err != nil && !w.isStopping() && !w.recover(err) {
				return
			}
		case <-tick.C:
			w.housekeep(ctx)
		}
	}
}

func (w *Worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// recover handles a lost liveness connection (see the notes above) and reports whether
// the node works again.
func (w *Worker) recover(cause error) bool {
	w.ready.Store(false)
	w.log.Error("LOST THE DATABASE: the session that proves this node alive is gone, and other nodes may take its running jobs; "+
		"stopping its work", "node", w.id, "err", cause)
	ctx, cancel := context.WithTimeout(context.Background(), stopAfterLoss)
	if err := w.client.StopAndCancel(ctx); err != nil {
		w.log.Warn("the running jobs did not end in time after the database was lost; waiting for them", "err", err)
	}
	cancel()
	<-w.client.Stopped()
	_ = w.live.Release(context.Background())
	w.live = nil
	if w.foreground != "" {
		w.markLost()
		return false
	}
	deadline := w.now().Add(w.reconnectTimeout)
	wait := time.Second
	for attempt := 1; ; attempt++ {
		if w.isStopping() {
			return false
		}
		err := w.reconnect()
		if err == nil {
			w.log.Warn("reconnected to the database: the node works again", "node", w.id, "attempt", attempt)
			return true
		}
		if !w.now().Add(wait).Before(deadline) {
			w.log.Error("GIVING UP: the database stayed unreachable; the process should exit and be restarted",
				"node", w.id, "for", w.reconnectTimeout, "err", err)
			w.markLost()
			return false
		}
		w.log.Warn("the database is unreachable; retrying", "node", w.id, "attempt", attempt, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-w.stopping:
			return false
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// reconnect takes the liveness lock again, takes back this node's jobs that were running
// when it stopped, registers the node and starts the River client again.
func (w *Worker) reconnect() error {
	ctx, cancel := context.WithTimeout(context.Background(), livenessLockTimeout)
	defer cancel()
	lock, err := liveness.Take(ctx, w.pool.Config().ConnConfig, w.id, livenessLockTimeout)
	if err != nil {
		return err
	}
	w.live = lock
	fail := func(err error) error {
		_ = w.live.Release(context.Background())
		w.live = nil
		return err
	}
	if _, err := w.reclaim(ctx, true); err != nil {
		return fail(err)
	}
	if err := jobhistory.NewStore(w.pool).RegisterNode(ctx, w.node()); err != nil {
		return fail(err)
	}
	if err := w.client.Start(w.runCtx); err != nil {
		return fail(err)
	}
	w.ready.Store(true)
	return nil
}

// housekeep reclaims the running jobs of dead nodes, refreshes this node's registration
// and removes the registrations of dead nodes.
func (w *Worker) housekeep(ctx context.Context) {
	if !w.ready.Load() {
		return
	}
	if _, err := w.reclaim(ctx, false); err != nil && ctx.Err() == nil {
		w.log.Error("reclaiming the jobs of dead nodes", "err", err)
	}
	hist := jobhistory.NewStore(w.pool)
	if err := hist.TouchNode(ctx, w.node()); err != nil {
		w.log.Warn("refreshing the node's registration", "err", err)
	}
	nodes, err := hist.Nodes(ctx)
	if err != nil {
		w.log.Warn("listing nodes", "err", err)
		return
	}
	for _, n := range nodes {
		if n.ID == w.id {
			continue
		}
		if alive, err := liveness.Alive(ctx, w.pool, n.ID); err == nil && !alive {
			if err := hist.RemoveNode(ctx, n.ID); err != nil {
				w.log.Warn("removing a dead node's registration", "node", n.ID, "err", err)
			}
		}
	}
	w.syncSchedules(ctx)
}

// reclaim makes the running jobs of dead nodes runnable again and returns them. With own,
// the jobs attempted under this node's own ID are taken too: only while this node's
// client is not running, when they can only be a dead predecessor's (or this node's own
// from before it lost the database).
func (w *Worker) reclaim(ctx context.Context, own bool) ([]reclaimed, error) {
	self := ""
	if own {
		self = w.id
	}
	out, err := liveness.Reclaim(ctx, w.pool, kinds, w.id, self)
	for _, j := range out {
		w.recordReclaim(ctx, j)
	}
	return out, err
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
	if err := jobhistory.NewStore(w.pool).As(w.id).AddEvent(ctx, job, string(stepOfKind(j.Kind)), level, msg,
		map[string]any{"river_job": j.ID, "dead_node": j.Owner, "node": w.id, "state": string(j.State)}); err != nil {
		w.log.Warn("recording a job event", "job", job, "err", err)
	}
	if j.State != rivertype.JobStateDiscarded {
		return
	}
	cause := fmt.Errorf("%s ran out of attempts: its last one died with node %s", j.Kind, j.Owner)
	// The stage answers a permanent error once it has recorded the failure.
	var perm *imports.PermanentError
	discarded := func() error { return w.stages.Discarded(ctx, stepOfKind(j.Kind), j.Args, cause) }
	if step, ok := exportStepOfKind(j.Kind); ok {
		discarded = func() error { return w.exports.Discarded(ctx, step, j.Args, cause) }
	}
	if err := discarded(); err != nil && !errors.As(err, &perm) {
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
	ex, ok, err := jobhistory.NewStore(w.pool).Execution(ctx, a.ExecutionID)
	if err != nil || !ok {
		return 0, false
	}
	return ex.JobID, true
}

// stepOfKind is the import step a River job kind runs.
func stepOfKind(kind string) imports.StepKind {
	switch kind {
	case IngestArgs{}.Kind():
		return imports.StepIngest
	case UploadArgs{}.Kind():
		return imports.StepUpload
	case PollArgs{}.Kind():
		return imports.StepPoll
	case FinalizeArgs{}.Kind():
		return imports.StepFinalize
	case NotifyArgs{}.Kind():
		return imports.StepNotify
	}
	return "discover"
}
