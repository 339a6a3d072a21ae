package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

func file(name string, size int64, mod int, etag string) ingest.FileInfo {
	return ingest.FileInfo{Name: name, Size: size, ModTime: time.Date(2025, 3, 1, 12, 0, mod, 0, time.UTC), ETag: etag}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func seen(f ingest.FileInfo, since time.Duration) ingest.Sighting {
	return ingest.Sighting{File: f, Since: at(since)}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	a, b := file("in/a.csv", 100, 0, ""), file("in/b.csv", 2, 0, "")
	for _, tc := range []struct {
		name    string
		prev    []ingest.Sighting
		listing []ingest.FileInfo
		now     time.Duration // after t0
		minAge  time.Duration
		next    []ingest.Sighting
		stable  []ingest.FileInfo
		recheck time.Duration
	}{
		{
			name: "a file seen once is not stable", listing: []ingest.FileInfo{a}, minAge: 2 * time.Minute,
			next: []ingest.Sighting{seen(a, 0)}, recheck: 2 * time.Minute,
		},
		{
			name: "unchanged for less than min_age", prev: []ingest.Sighting{seen(a, 0)}, listing: []ingest.FileInfo{a},
			now: time.Minute, minAge: 2 * time.Minute,
			next: []ingest.Sighting{seen(a, 0)}, recheck: time.Minute,
		},
		{
			name: "unchanged for min_age", prev: []ingest.Sighting{seen(a, 0)}, listing: []ingest.FileInfo{a},
			now: 2 * time.Minute, minAge: 2 * time.Minute,
			next: []ingest.Sighting{seen(a, 0)}, stable: []ingest.FileInfo{a},
		},
		{
			name: "grew", prev: []ingest.Sighting{seen(file("a.csv", 10, 0, ""), 0)}, listing: []ingest.FileInfo{file("a.csv", 20, 0, "")},
			now: time.Hour, minAge: time.Minute,
			next: []ingest.Sighting{seen(file("a.csv", 20, 0, ""), time.Hour)}, recheck: time.Minute,
		},
		{
			name: "touched", prev: []ingest.Sighting{seen(file("a.csv", 20, 0, ""), 0)}, listing: []ingest.FileInfo{file("a.csv", 20, 5, "")},
			now: time.Hour, minAge: time.Minute,
			next: []ingest.Sighting{seen(file("a.csv", 20, 5, ""), time.Hour)}, recheck: time.Minute,
		},
		{
			name: "new etag, same size and time", prev: []ingest.Sighting{seen(file("a.csv", 20, 5, "0x1"), 0)},
			listing: []ingest.FileInfo{file("a.csv", 20, 5, "0x2")}, now: time.Hour, minAge: time.Minute,
			next: []ingest.Sighting{seen(file("a.csv", 20, 5, "0x2"), time.Hour)}, recheck: time.Minute,
		},
		{
			name: "files wait apart, recheck is the nearest", prev: []ingest.Sighting{seen(b, 30*time.Second), seen(a, 0)},
			listing: []ingest.FileInfo{a, b, file("c.csv", 3, 0, "")}, now: time.Minute, minAge: time.Minute,
			next:   []ingest.Sighting{seen(a, 0), seen(b, 30*time.Second), seen(file("c.csv", 3, 0, ""), time.Minute)},
			stable: []ingest.FileInfo{a}, recheck: 30 * time.Second,
		},
		{
			name: "files that leave the listing are forgotten", prev: []ingest.Sighting{seen(a, 0), seen(b, 0)},
			listing: []ingest.FileInfo{b}, now: time.Hour, minAge: time.Minute,
			next: []ingest.Sighting{seen(b, 0)}, stable: []ingest.FileInfo{b},
		},
		{
			name: "an empty listing forgets everything", prev: []ingest.Sighting{seen(a, 0)}, now: time.Hour, minAge: time.Minute,
			next: []ingest.Sighting{},
		},
		{
			name: "zero min_age takes at once", listing: []ingest.FileInfo{a}, now: time.Hour,
			next: []ingest.Sighting{seen(a, time.Hour)}, stable: []ingest.FileInfo{a},
		},
		{
			name: "a sighting after now (the clock went back) waits from now", prev: []ingest.Sighting{seen(a, time.Hour)},
			listing: []ingest.FileInfo{a}, now: time.Minute, minAge: 2 * time.Minute,
			next: []ingest.Sighting{seen(a, time.Minute)}, recheck: 2 * time.Minute,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			next, stable, recheck := ingest.Settle(tc.prev, tc.listing, at(tc.now), tc.minAge)
			assert.Equal(t, tc.next, next)
			assert.Equal(t, tc.stable, stable)
			assert.Equal(t, tc.recheck, recheck)
		})
	}
}

// The Watcher over jobhistory's sightings in Postgres: each node of a cluster is a
// Watcher with a pool of its own on one database, whose clock the waits are measured
// with, so these tests wait in real time (min_age of a second or less).
func TestWatcher(t *testing.T) {
	t.Parallel()
	pool, url := testsvc.MigratedDatabase(t)
	for name, fn := range map[string]func(*testing.T, *pgxpool.Pool, string){
		"WaitStartedByOneNodeEndsOnAnother":  testTwoNodes,
		"RestartKeepsTheWait":                testRestart,
		"ChangedFileWaitsAgain":              testChangedFile,
		"ProjectsAndConnectionsApart":        testApart,
		"FilesThatLeaveTheListingWaitAgain":  testForgets,
		"ConcurrentListingsOfOneProject":     testConcurrent,
		"ZeroMinAgeTakesAtOnce":              testZeroMinAge,
		"BadListingIsRefusedAndNothingKept":  testBadListing,
		"StoreErrorIsReturnedWithTheProject": testStoreError,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, pool, url)
		})
	}
}

// node is one `pipeline serve` process: its own pool and Watcher.
func node(t *testing.T, url string) *ingest.Watcher {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return ingest.NewWatcher(jobhistory.NewSightings(pool))
}

func testTwoNodes(t *testing.T, _ *pgxpool.Pool, url string) {
	ctx := context.Background()
	p := testsvc.Name(t)
	first, second := node(t, url), node(t, url)
	// A min_age well above the pause between the nodes' listings, so that a busy
	// machine's stalls do not end the wait before the second node looks.
	const minAge, pause = 4 * time.Second, time.Second
	a := file("in/a.csv", 100, 0, "0x1")

	stable, recheck, err := first.Stable(ctx, p, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Empty(t, stable, "a file seen once is not stable")
	assert.Equal(t, minAge, recheck, "a new file waits min_age")

	time.Sleep(pause)
	stable, recheck, err = second.Stable(ctx, p, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Empty(t, stable, "unchanged for less than min_age")
	assert.Greater(t, recheck, time.Duration(0))
	assert.LessOrEqual(t, recheck, minAge-pause, "the second node goes on with the first's wait")

	time.Sleep(recheck)
	stable, recheck, err = second.Stable(ctx, p, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Equal(t, []ingest.FileInfo{a}, stable, "stable min_age after the first node saw it")
	assert.Zero(t, recheck)
	stable, _, err = first.Stable(ctx, p, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Equal(t, []ingest.FileInfo{a}, stable, "and for the first node too")
}

func testRestart(t *testing.T, _ *pgxpool.Pool, url string) {
	ctx := context.Background()
	p := testsvc.Name(t)
	const minAge = 700 * time.Millisecond
	// Nanoseconds, as local folders report them: the version read back must be the same.
	a := ingest.FileInfo{Name: "a.csv", Size: 1, ModTime: time.Date(2025, 3, 1, 12, 30, 15, 123456789, time.UTC)}
	_, _, err := node(t, url).Stable(ctx, p, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	time.Sleep(minAge)
	restarted := node(t, url)
	stable, recheck, err := restarted.Stable(ctx, p, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Equal(t, []ingest.FileInfo{a}, stable, "the wait begun before the restart is over")
	assert.Zero(t, recheck)
}

func testChangedFile(t *testing.T, pool *pgxpool.Pool, url string) {
	ctx := context.Background()
	p := testsvc.Name(t)
	w := ingest.NewWatcher(jobhistory.NewSightings(pool))
	const minAge = 500 * time.Millisecond
	versions := []ingest.FileInfo{
		file("a.csv", 10, 0, ""),
		file("a.csv", 20, 0, ""),    // grew
		file("a.csv", 20, 5, ""),    // touched
		file("a.csv", 20, 5, "0x2"), // new etag, same size and time
	}
	for i, version := range versions {
		if i > 0 {
			time.Sleep(minAge)
		}
		// Nodes take turns: a change seen by either restarts the wait for both.
		stable, recheck, err := []*ingest.Watcher{w, node(t, url)}[i%2].Stable(ctx, p, "drop", minAge, []ingest.FileInfo{version})
		require.NoError(t, err)
		assert.Empty(t, stable, "a changed file waits again: %+v", version)
		assert.Equal(t, minAge, recheck, "from the listing that saw the change: %+v", version)
	}
	time.Sleep(minAge)
	last := versions[len(versions)-1]
	stable, _, err := w.Stable(ctx, p, "drop", minAge, []ingest.FileInfo{last})
	require.NoError(t, err)
	assert.Equal(t, []ingest.FileInfo{last}, stable)
}

func testApart(t *testing.T, pool *pgxpool.Pool, _ string) {
	ctx := context.Background()
	p1, p2 := testsvc.Name(t), testsvc.Name(t)
	w := ingest.NewWatcher(jobhistory.NewSightings(pool))
	const minAge = 4 * time.Second // halves well above a busy machine's stalls
	a, b := file("a.csv", 1, 0, ""), file("b.csv", 2, 0, "")

	_, _, err := w.Stable(ctx, p1, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	time.Sleep(minAge / 2)
	_, _, err = w.Stable(ctx, p1, "drop", minAge, []ingest.FileInfo{a, b})
	require.NoError(t, err)
	_, _, err = w.Stable(ctx, p2, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	_, _, err = w.Stable(ctx, p1, "partner-sftp", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	time.Sleep(minAge / 2)

	stable, recheck, err := w.Stable(ctx, p1, "drop", minAge, []ingest.FileInfo{a, b})
	require.NoError(t, err)
	assert.Equal(t, []ingest.FileInfo{a}, stable)
	assert.Greater(t, recheck, time.Duration(0), "b waits")
	assert.LessOrEqual(t, recheck, minAge/2, "b was seen half a min_age ago")
	stable, _, err = w.Stable(ctx, p2, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Empty(t, stable, "p2 first saw a half a min_age ago")
	stable, _, err = w.Stable(ctx, p1, "partner-sftp", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Empty(t, stable, "another connection of p1 first saw its a half a min_age ago")
}

func testForgets(t *testing.T, pool *pgxpool.Pool, _ string) {
	ctx := context.Background()
	p := testsvc.Name(t)
	w := ingest.NewWatcher(jobhistory.NewSightings(pool))
	const minAge = 300 * time.Millisecond
	a := file("a.csv", 1, 0, "")
	_, _, err := w.Stable(ctx, p, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	time.Sleep(minAge)
	_, _, err = w.Stable(ctx, p, "drop", minAge, nil) // moved away (or taken)
	require.NoError(t, err)
	stored, err := jobhistory.NewSightings(pool).List(ctx, p, "drop")
	require.NoError(t, err)
	assert.Empty(t, stored, "nothing is kept of a file that left")
	stable, recheck, err := w.Stable(ctx, p, "drop", minAge, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Empty(t, stable, "a file that comes back waits again")
	assert.Equal(t, minAge, recheck)
}

// Several nodes list one project at once, half of them a round behind (so their listings
// forget the newest file again): every call succeeds, no file is stable early, and min_age
// after a complete listing every file is.
func testConcurrent(t *testing.T, _ *pgxpool.Pool, url string) {
	ctx := context.Background()
	p := testsvc.Name(t)
	const minAge = 3 * time.Second
	const nodes, rounds = 4, 10
	watchers := make([]*ingest.Watcher, nodes)
	for i := range watchers {
		watchers[i] = node(t, url)
	}
	listing := func(round int) []ingest.FileInfo {
		var files []ingest.FileInfo
		for i := range round + 1 {
			files = append(files, file(fmt.Sprintf("f%02d.csv", i), int64(i), 0, ""))
		}
		return files
	}
	start := time.Now()
	errs := make(chan error, nodes*rounds)
	var wg sync.WaitGroup
	for i, w := range watchers {
		wg.Go(func() {
			for r := range rounds {
				// Node i lists once file r was uploaded, or a round later: listings overlap.
				stable, recheck, err := w.Stable(ctx, p, "drop", minAge, listing(max(r-i%2, 0)))
				if err != nil {
					errs <- err
					return
				}
				if len(stable) > 0 || recheck <= 0 || recheck > minAge {
					errs <- fmt.Errorf("node %d round %d: stable %v, recheck %v", i, r, stable, recheck)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	// Nothing is stable before min_age has passed since the first sighting: the checks
	// above hold while the calls take less than that.
	require.Less(t, time.Since(start), minAge, "the calls took too long for the checks above")

	// The last listing may have been a lagging node's, which forgot the newest file: list
	// every file once more, then wait.
	want := listing(rounds - 1)
	_, _, err := watchers[1].Stable(ctx, p, "drop", minAge, want)
	require.NoError(t, err)
	time.Sleep(minAge)
	stable, recheck, err := watchers[0].Stable(ctx, p, "drop", minAge, want)
	require.NoError(t, err)
	assert.Equal(t, want, stable, "every file is stable min_age after all listings")
	assert.Zero(t, recheck)
}

func testZeroMinAge(t *testing.T, pool *pgxpool.Pool, _ string) {
	ctx := context.Background()
	w := ingest.NewWatcher(jobhistory.NewSightings(pool))
	a := file("a.csv", 1, 0, "")
	stable, recheck, err := w.Stable(ctx, testsvc.Name(t), "drop", 0, []ingest.FileInfo{a})
	require.NoError(t, err)
	assert.Equal(t, []ingest.FileInfo{a}, stable)
	assert.Zero(t, recheck)
}

func testBadListing(t *testing.T, pool *pgxpool.Pool, _ string) {
	ctx := context.Background()
	p := testsvc.Name(t)
	w := ingest.NewWatcher(jobhistory.NewSightings(pool))
	a := file("a.csv", 1, 0, "")
	_, _, err := w.Stable(ctx, p, "drop", time.Minute, []ingest.FileInfo{a, file("a.csv", 2, 0, "")})
	assert.ErrorContains(t, err, "a.csv is listed twice")
	_, _, err = w.Stable(ctx, p, "drop", time.Minute, []ingest.FileInfo{a, {Size: 3}})
	assert.ErrorContains(t, err, "file 2 of the listing has no name")
	_, _, err = w.Stable(ctx, p, "", time.Minute, []ingest.FileInfo{a})
	assert.ErrorContains(t, err, "must be named")
	stored, err := jobhistory.NewSightings(pool).List(ctx, p, "drop")
	require.NoError(t, err)
	assert.Empty(t, stored)
}

func testStoreError(t *testing.T, pool *pgxpool.Pool, _ string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := testsvc.Name(t)
	_, _, err := ingest.NewWatcher(jobhistory.NewSightings(pool)).Stable(ctx, p, "drop", time.Minute, []ingest.FileInfo{file("a.csv", 1, 0, "")})
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "checking stability of project "+p)
}
