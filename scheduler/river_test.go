package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
)

// everySecond ticks on whole seconds, so every node computes the same ticks (cron is
// minute-grained, too slow for a test).
type everySecond struct{}

func (everySecond) Next(t time.Time) time.Time { return t.Truncate(time.Second).Add(time.Second) }

// recorder is a discover worker that remembers what it ran, on which node.
type recorder struct {
	river.WorkerDefaults[DiscoverArgs]

	mu   sync.Mutex
	runs []recorded
}

type recorded struct {
	args DiscoverArgs
	node string
}

func (r *recorder) Work(_ context.Context, job *river.Job[DiscoverArgs]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, recorded{args: job.Args, node: job.AttemptedBy[len(job.AttemptedBy)-1]})
	return nil
}

func (r *recorder) snapshot() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.runs...)
}

// newNode returns a River client on its own pool, as one `serve` process would have it.
func newNode(t *testing.T, url, id string, periodic []*river.PeriodicJob, rec *recorder) *river.Client[pgx.Tx] {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	workers := river.NewWorkers()
	river.AddWorker(workers, rec)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:                id,
		PeriodicJobs:      periodic,
		Queues:            map[string]river.QueueConfig{Queue: {MaxWorkers: 2}},
		Workers:           workers,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		TestOnly:          true,
	})
	require.NoError(t, err)
	return client
}

func stopClient(t *testing.T, client *river.Client[pgx.Tx]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, client.Stop(ctx))
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type tickRow struct {
	Project     string
	FireTime    time.Time
	ScheduledAt time.Time
	State       string
}

func tickRows(t *testing.T, pool *pgxpool.Pool) []tickRow {
	t.Helper()
	rows, err := pool.Query(t.Context(), `
		SELECT args->>'project', (args->>'fire_time')::timestamptz, scheduled_at, state::text
		FROM river_job WHERE kind = $1 AND args->>'trigger' = $2 ORDER BY 2, 1`, Kind, TriggerSchedule)
	require.NoError(t, err)
	ticks, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tickRow])
	require.NoError(t, err)
	return ticks
}

func leader(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var id string
	err := pool.QueryRow(t.Context(), `SELECT leader_id FROM river_leader`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	require.NoError(t, err)
	return id
}

// TestClusterFiresEachTickOnce runs three nodes with the same periodic jobs on one
// database, stops the leader half-way, and checks that every tick was inserted and worked
// exactly once, before and after the new leader took over.
func TestClusterFiresEachTickOnce(t *testing.T) {
	t.Parallel()
	pool, url := migratedDB(t)
	ctx := t.Context()

	rec := &recorder{}
	nodes := map[string]*river.Client[pgx.Tx]{}
	for _, id := range []string{"node-a", "node-b", "node-c"} {
		// Each node builds its own periodic jobs, as each process does.
		periodic := []*river.PeriodicJob{periodicJob("alpha", everySecond{}), periodicJob("beta", everySecond{})}
		nodes[id] = newNode(t, url, id, periodic, rec)
		require.NoError(t, nodes[id].Start(ctx))
	}
	defer func() {
		for _, c := range nodes {
			stopClient(t, c)
		}
	}()

	ticksAfter := func(after time.Time) int {
		n := 0
		for _, r := range tickRows(t, pool) {
			if r.Project == "alpha" && r.FireTime.After(after) && r.State == string(rivertype.JobStateCompleted) {
				n++
			}
		}
		return n
	}

	var first string
	waitFor(t, 10*time.Second, "a leader and three ticks worked", func() bool {
		first = leader(t, pool)
		return first != "" && ticksAfter(time.Time{}) >= 3
	})
	stopClient(t, nodes[first])
	delete(nodes, first)
	stoppedAt := time.Now()

	var second string
	waitFor(t, 15*time.Second, "a new leader and three more ticks worked", func() bool {
		second = leader(t, pool)
		return second != "" && second != first && ticksAfter(stoppedAt) >= 3
	})
	// Stopping waits for running jobs; a tick inserted just before may stay unworked.
	for id, c := range nodes {
		stopClient(t, c)
		delete(nodes, id)
	}

	worked := map[string]int{}
	for _, run := range rec.snapshot() {
		require.Equal(t, TriggerSchedule, run.args.Trigger)
		worked[run.args.Project+" "+run.args.FireTime.Format(time.RFC3339Nano)]++
	}
	ticks := tickRows(t, pool)
	perTick := map[string]int{}
	completed := 0
	catchUps := map[string]int{}
	for _, r := range ticks {
		key := r.Project + " " + r.FireTime.Format(time.RFC3339Nano)
		perTick[key]++
		assert.Equal(t, 1, perTick[key], "tick %s inserted more than once", key)
		assert.Equal(t, r.FireTime.Truncate(time.Second), r.FireTime, "fire time on a whole second")
		// River schedules a periodic job at its tick, and the args carry the same tick;
		// except for a leader's catch-up of the tick just before it started, scheduled at
		// once.
		if !r.FireTime.Equal(r.ScheduledAt) {
			catchUps[r.Project]++
			assert.True(t, r.ScheduledAt.After(r.FireTime) && r.ScheduledAt.Sub(r.FireTime) < 2*time.Second,
				"fire time %s, scheduled at %s", r.FireTime, r.ScheduledAt)
		}
		switch r.State {
		case string(rivertype.JobStateCompleted):
			completed++
			assert.Equal(t, 1, worked[key], "tick %s worked once", key)
		case string(rivertype.JobStateAvailable):
			assert.Zero(t, worked[key], "tick %s not worked", key)
		default:
			t.Errorf("tick %s in state %s", key, r.State)
		}
	}
	assert.Len(t, worked, completed, "only inserted ticks were worked")
	for project, n := range catchUps {
		assert.LessOrEqual(t, n, 2, "project %s: at most one catch-up per leader", project)
	}
	assert.GreaterOrEqual(t, completed, 6, "three ticks under each leader")
	t.Logf("%d ticks; leader %s, then %s", len(ticks), first, second)
}

// TestScheduledDiscoverIsUnique inserts the same tick from two nodes at once, and again
// after it completed: it exists once. Run-now is never deduplicated.
func TestScheduledDiscoverIsUnique(t *testing.T) {
	t.Parallel()
	pool, url := migratedDB(t)
	ctx := t.Context()
	rec := &recorder{}
	worker := newNode(t, url, "worker", nil, rec)
	inserter := newNode(t, url, "inserter", nil, rec)

	tick := DiscoverArgs{Project: "alpha", Trigger: TriggerSchedule, FireTime: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)}
	results := make([]*rivertype.JobInsertResult, 2)
	var wg sync.WaitGroup
	for i, c := range []*river.Client[pgx.Tx]{worker, inserter} {
		wg.Go(func() {
			res, err := c.Insert(ctx, tick, nil)
			assert.NoError(t, err)
			results[i] = res
		})
	}
	wg.Wait()
	require.NotNil(t, results[0])
	require.NotNil(t, results[1])
	assert.Equal(t, results[0].Job.ID, results[1].Job.ID)
	assert.NotEqual(t, results[0].UniqueSkippedAsDuplicate, results[1].UniqueSkippedAsDuplicate)

	require.NoError(t, worker.Start(ctx))
	defer stopClient(t, worker)
	waitFor(t, 10*time.Second, "the tick worked", func() bool { return len(rec.snapshot()) == 1 })
	waitFor(t, 5*time.Second, "the tick completed", func() bool {
		rows := tickRows(t, pool)
		return len(rows) == 1 && rows[0].State == string(rivertype.JobStateCompleted)
	})

	again, err := inserter.Insert(ctx, tick, nil)
	require.NoError(t, err)
	assert.True(t, again.UniqueSkippedAsDuplicate, "a completed tick blocks its re-insertion")
	next := tick
	next.FireTime = tick.FireTime.Add(24 * time.Hour)
	other, err := inserter.Insert(ctx, next, nil)
	require.NoError(t, err)
	assert.False(t, other.UniqueSkippedAsDuplicate, "another tick is another job")

	// Run-now, after a completed run of the same project and while another is pending.
	first, err := RunNow(ctx, inserter, "alpha")
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "the run-now worked", func() bool {
		for _, r := range rec.snapshot() {
			if r.args.Trigger == TriggerRunNow {
				return true
			}
		}
		return false
	})
	second, err := RunNow(ctx, inserter, "alpha")
	require.NoError(t, err)
	third, err := RunNow(ctx, inserter, "alpha")
	require.NoError(t, err)
	assert.Len(t, map[int64]bool{first: true, second: true, third: true}, 3)
	job, err := inserter.JobGet(ctx, third)
	require.NoError(t, err)
	assert.Equal(t, Queue, job.Queue)
	assert.Equal(t, Kind, job.Kind)
	assert.JSONEq(t, `{"project":"alpha","trigger":"run_now"}`, string(job.EncodedArgs))
}

func TestRunNowError(t *testing.T) {
	t.Parallel()
	_, url := migratedDB(t)
	client := newNode(t, url, "n", nil, &recorder{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := RunNow(ctx, client, "alpha")
	assert.ErrorContains(t, err, `inserting run-now discover for project "alpha"`)
}

// Every scheduled project yields a periodic job a real client accepts, and a paused
// project's ticks are still inserted (ShouldRun skips them in the worker).
func TestPeriodicJobsRegisterWithRiver(t *testing.T) {
	t.Parallel()
	_, url := migratedDB(t)
	jobs, err := PeriodicJobs([]*config.Project{
		{Name: "nightly", Schedule: "0 2 * * *", Timezone: "Europe/Amsterdam"},
		{Name: "paused", Schedule: "*/5 * * * *", Timezone: "UTC", Paused: true},
	})
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	client := newNode(t, url, "n", jobs, &recorder{})
	require.NoError(t, client.Start(t.Context()))
	stopClient(t, client)
}

// fixedTicks is a schedule of given instants.
type fixedTicks []time.Time

func (f fixedTicks) Next(t time.Time) time.Time {
	for _, at := range f {
		if at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// TestLeaderCatchesUpMissedTick starts a leader just after a tick that no node inserted
// for one project and that the old leader did insert for another: the missed tick fires
// at once, the other is not inserted again.
func TestLeaderCatchesUpMissedTick(t *testing.T) {
	t.Parallel()
	pool, url := migratedDB(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Second)
	missed, later := now.Add(-30*time.Second), now.Add(time.Hour)
	ticks := fixedTicks{now.Add(-2 * CatchUpWindow), missed, later}

	rec := &recorder{}
	oldLeader := newNode(t, url, "old", nil, rec)
	_, err := oldLeader.Insert(ctx, DiscoverArgs{Project: "seen", Trigger: TriggerSchedule, FireTime: missed}, nil)
	require.NoError(t, err)

	node := newNode(t, url, "new", []*river.PeriodicJob{periodicJob("missed", ticks), periodicJob("seen", ticks)}, rec)
	require.NoError(t, node.Start(ctx))
	defer stopClient(t, node)

	// River inserts the start-up jobs of all periodic jobs in one transaction.
	waitFor(t, 10*time.Second, "the missed tick", func() bool { return len(tickRows(t, pool)) >= 2 })
	rows := tickRows(t, pool)
	require.Len(t, rows, 2)
	for _, r := range rows {
		assert.True(t, missed.Equal(r.FireTime), "%s fires the tick it missed, not the older one", r.Project)
	}
	waitFor(t, 10*time.Second, "both ticks worked", func() bool { return len(rec.snapshot()) == 2 })
}

func TestTickingSchedule(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 1, 12, 0, 30, 5, time.UTC)
	s := &tickingSchedule{schedule: everySecond{}}

	// A leader starts: River asks for the first tick, then calls the constructor for
	// RunOnStart, which fires the tick just past.
	first := s.Next(start)
	assert.Equal(t, start.Truncate(time.Second).Add(time.Second), first)
	assert.Equal(t, start.Truncate(time.Second), s.firing())
	// The tick comes: the constructor fires it, then River asks for the one after.
	assert.Equal(t, first, s.firing())
	second := s.Next(first)
	assert.Equal(t, first.Add(time.Second), second)
	assert.Equal(t, second, s.firing())

	// A leader starting with no tick in the catch-up window fires nothing on start.
	rare := &tickingSchedule{schedule: fixedTicks{start.Add(-CatchUpWindow), start.Add(time.Hour)}}
	assert.Equal(t, start.Add(time.Hour), rare.Next(start))
	assert.True(t, rare.firing().IsZero())
	assert.Equal(t, start.Add(time.Hour), rare.firing())
}
