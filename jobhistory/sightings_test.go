package jobhistory_test

import (
	"context"
	"sort"
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

// TestSightings shares one migrated database between its subtests; each uses projects of
// its own.
func TestSightings(t *testing.T) {
	t.Parallel()
	pool, _ := testsvc.MigratedDatabase(t)
	for name, fn := range map[string]func(*testing.T, *pgxpool.Pool){
		"RoundTrip":                       testSightingsRoundTrip,
		"DatabaseClock":                   testSightingsClock,
		"OnlyChangesAreWritten":           testSightingsWritesChanges,
		"ProjectsAndConnectionsApart":     testSightingsApart,
		"BadSightingsStoreNothing":        testSightingsRefused,
		"InsideATransaction":              testSightingsInTransaction,
		"UpdateWaitsForUncommittedOne":    testSightingsWait,
		"ConcurrentUpdatesLoseNothing":    testSightingsConcurrent,
		"ReplacesWhatNextReturnsVerbatim": testSightingsVerbatim,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, pool)
		})
	}
}

// set returns an Update callback storing sightings, each seen since now unless it has a
// time of its own, and keeps what it was given.
func set(got *[]ingest.Sighting, gotNow *time.Time, sightings ...ingest.Sighting) func(time.Time, []ingest.Sighting) []ingest.Sighting {
	return func(now time.Time, prev []ingest.Sighting) []ingest.Sighting {
		if got != nil {
			*got = prev
		}
		if gotNow != nil {
			*gotNow = now
		}
		next := make([]ingest.Sighting, len(sightings))
		for i, s := range sightings {
			if s.Since.IsZero() {
				s.Since = now
			}
			next[i] = s
		}
		return next
	}
}

func sighting(f ingest.FileInfo) ingest.Sighting { return ingest.Sighting{File: f} }

func byName(s []ingest.Sighting) []ingest.Sighting {
	sort.Slice(s, func(i, j int) bool { return s[i].File.Name < s[j].File.Name })
	return s
}

func testSightingsRoundTrip(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	s := jobhistory.NewSightings(pool)
	p := project(t)
	files := []ingest.FileInfo{
		version("in/März #1.csv", 42), // nanoseconds, as local folders report them
		{Name: "in/blob.csv", Size: 7, ModTime: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), ETag: "0x8DC"},
		{Name: "in/bare.csv", Size: 0}, // no modification time, no ETag
		{Name: "in/old.csv", Size: 1, ModTime: time.Date(1969, 7, 20, 20, 17, 40, 999, time.FixedZone("", -5*3600))},
	}
	var now time.Time
	sightings := make([]ingest.Sighting, len(files))
	for i, f := range files {
		sightings[i] = sighting(f)
	}
	require.NoError(t, s.Update(ctx, p, "c", set(nil, &now, sightings...)))

	stored, err := s.List(ctx, p, "c")
	require.NoError(t, err)
	require.Len(t, stored, len(files))
	for i, f := range []ingest.FileInfo{files[0], files[2], files[1], files[3]} { // by name, bytewise
		assert.Equal(t, f.Name, stored[i].File.Name)
		assert.True(t, f.SameVersion(stored[i].File), "%+v read back as %+v", f, stored[i].File)
		assert.True(t, now.Equal(stored[i].Since), "seen since the time Update gave")
	}
	assert.True(t, stored[1].File.ModTime.IsZero())
	assert.Empty(t, stored[1].File.ETag)

	// The next Update is given what was stored.
	var prev []ingest.Sighting
	require.NoError(t, s.Update(ctx, p, "c", set(&prev, nil, stored...)))
	assert.Equal(t, stored, byName(prev))
}

// The time given to next is the database's, read at each Update, even inside a
// transaction begun earlier.
func testSightingsClock(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	p := project(t)
	var before, first, inTx, dbNow time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&before))
	require.NoError(t, jobhistory.NewSightings(pool).Update(ctx, p, "c", set(nil, &first)))
	assert.False(t, first.Before(before), "%v is before %v", first, before)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	require.NoError(t, tx.QueryRow(ctx, `SELECT now()`).Scan(&dbNow)) // the transaction's start
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, jobhistory.NewSightings(tx).Update(ctx, p, "c", set(nil, &inTx)))
	assert.GreaterOrEqual(t, inTx.Sub(dbNow), 50*time.Millisecond, "not the transaction's start")
	assert.True(t, inTx.After(first))
}

// An Update writes only the sightings that change; the others keep their row version.
func testSightingsWritesChanges(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	s := jobhistory.NewSightings(pool)
	p := project(t)
	a, b, c := sighting(version("a.csv", 1)), sighting(version("b.csv", 2)), sighting(version("c.csv", 3))
	require.NoError(t, s.Update(ctx, p, "conn", set(nil, nil, a, b, c)))
	rowVersions := func() map[string]string {
		rows, err := pool.Query(ctx, `SELECT path, xmin::text FROM file_sightings WHERE project = $1`, p)
		require.NoError(t, err)
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var path, xmin string
			require.NoError(t, rows.Scan(&path, &xmin))
			m[path] = xmin
		}
		require.NoError(t, rows.Err())
		return m
	}
	was := rowVersions()
	stored, err := s.List(ctx, p, "conn")
	require.NoError(t, err)

	// a unchanged, b grown, c gone, d new.
	grown := sighting(version("b.csv", 20))
	d := sighting(version("d.csv", 4))
	var now time.Time
	require.NoError(t, s.Update(ctx, p, "conn", set(nil, &now, stored[0], grown, d)))
	is := rowVersions()
	assert.Equal(t, was["a.csv"], is["a.csv"], "a is not rewritten")
	assert.NotEqual(t, was["b.csv"], is["b.csv"])
	assert.NotContains(t, is, "c.csv")
	assert.Contains(t, is, "d.csv")

	after, err := s.List(ctx, p, "conn")
	require.NoError(t, err)
	require.Len(t, after, 3)
	assert.Equal(t, stored[0], after[0])
	assert.Equal(t, int64(20), after[1].File.Size)
	assert.True(t, now.Equal(after[1].Since), "the new version is seen since now")
	assert.Equal(t, "d.csv", after[2].File.Name)

	// Nothing changes: nothing is written.
	was = is
	require.NoError(t, s.Update(ctx, p, "conn", func(_ time.Time, prev []ingest.Sighting) []ingest.Sighting { return prev }))
	assert.Equal(t, was, rowVersions())
}

func testSightingsApart(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	s := jobhistory.NewSightings(pool)
	p1, p2 := project(t), project(t)
	a := sighting(version("a.csv", 1))
	require.NoError(t, s.Update(ctx, p1, "c1", set(nil, nil, a)))
	require.NoError(t, s.Update(ctx, p1, "c2", set(nil, nil, a, sighting(version("b.csv", 2)))))
	require.NoError(t, s.Update(ctx, p2, "c1", set(nil, nil)))

	for _, tc := range []struct {
		project, connection string
		want                int
	}{{p1, "c1", 1}, {p1, "c2", 2}, {p2, "c1", 0}} {
		var prev []ingest.Sighting
		require.NoError(t, s.Update(ctx, tc.project, tc.connection, set(&prev, nil)))
		assert.Len(t, prev, tc.want, "%s %s", tc.project, tc.connection)
	}
	for _, c := range []string{"c1", "c2"} {
		stored, err := s.List(ctx, p1, c)
		require.NoError(t, err)
		assert.Empty(t, stored, "the empty updates forgot %s", c)
	}
}

func testSightingsRefused(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	s := jobhistory.NewSightings(pool)
	p := project(t)
	a := sighting(version("a.csv", 1))
	require.NoError(t, s.Update(ctx, p, "c", set(nil, nil, a)))
	before, err := s.List(ctx, p, "c")
	require.NoError(t, err)

	err = s.Update(ctx, p, "c", set(nil, nil, sighting(version("b.csv", 1)), sighting(version("b.csv", 2))))
	assert.ErrorContains(t, err, "b.csv is sighted twice")
	assert.ErrorContains(t, err, p)
	err = s.Update(ctx, p, "c", set(nil, nil, sighting(ingest.FileInfo{Size: 1})))
	assert.ErrorContains(t, err, "no file name")

	after, err := s.List(ctx, p, "c")
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing stored, nothing forgotten")
}

// The sightings work on a caller's transaction, and nothing is kept when it rolls back.
func testSightingsInTransaction(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	p := project(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, jobhistory.NewSightings(tx).Update(ctx, p, "c", set(nil, nil, sighting(version("a.csv", 1)))))
	stored, err := jobhistory.NewSightings(tx).List(ctx, p, "c")
	require.NoError(t, err)
	assert.Len(t, stored, 1, "seen inside the transaction")
	require.NoError(t, tx.Rollback(ctx))

	stored, err = jobhistory.NewSightings(pool).List(ctx, p, "c")
	require.NoError(t, err)
	assert.Empty(t, stored)
}

// An Update inside a transaction not yet committed holds the project's sightings: another
// Update meanwhile waits for the commit and then sees what it stored.
func testSightingsWait(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	p := project(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	a := sighting(version("a.csv", 1))
	var held time.Time
	require.NoError(t, jobhistory.NewSightings(tx).Update(ctx, p, "c", set(nil, &held, a)))

	type result struct {
		prev []ingest.Sighting
		now  time.Time
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = jobhistory.NewSightings(pool).Update(ctx, p, "c", set(&r.prev, &r.now))
		done <- r
	}()
	require.Eventually(t, func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `
			SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			  AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 10*time.Millisecond, "the second Update does not wait for the uncommitted one")
	require.NoError(t, tx.Commit(ctx))
	r := <-done
	require.NoError(t, r.err)
	require.Len(t, r.prev, 1)
	assert.True(t, held.Equal(r.prev[0].Since))
	assert.True(t, r.now.After(held), "its time is read once the lock is held")
}

// Updates of one project from many connections at once each grow the file they were
// given by a byte: none is lost, as one would be if two read the same sightings.
func testSightingsConcurrent(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	p := project(t)
	s := jobhistory.NewSightings(pool)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(ctx, p, "c", func(now time.Time, prev []ingest.Sighting) []ingest.Sighting {
				grown := ingest.Sighting{File: version("growing.csv", 1), Since: now}
				if len(prev) == 1 {
					grown.File.Size = prev[0].File.Size + 1
				}
				return []ingest.Sighting{grown}
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	stored, err := s.List(ctx, p, "c")
	require.NoError(t, err)
	require.Len(t, stored, 1)
	assert.Equal(t, int64(n), stored[0].File.Size)
}

// The store keeps the Since next returns, later or earlier than the one stored: the rule
// (ingest.Settle) decides, and the Updates are serialised.
func testSightingsVerbatim(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	s := jobhistory.NewSightings(pool)
	p := project(t)
	a := version("a.csv", 1)
	for _, since := range []time.Time{
		time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC),
	} {
		require.NoError(t, s.Update(ctx, p, "c", set(nil, nil, ingest.Sighting{File: a, Since: since})))
		stored, err := s.List(ctx, p, "c")
		require.NoError(t, err)
		require.Len(t, stored, 1)
		assert.True(t, since.Equal(stored[0].Since), "%v stored as %v", since, stored[0].Since)
	}
}
