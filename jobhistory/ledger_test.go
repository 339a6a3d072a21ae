package jobhistory_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/migrations"
)

// TestLedger shares one migrated database between its subtests; each uses projects of
// its own.
func TestLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pc, err := pgxpool.ParseConfig(testsvc.Database(t))
	require.NoError(t, err)
	pc.MaxConns = 12
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool, nil)
	require.NoError(t, err)

	for name, fn := range map[string]func(*testing.T, *pgxpool.Pool){
		"RecordAndGet":                  testRecordAndGet,
		"FindTaken":                     testFindTaken,
		"DuplicateContentWhateverName":  testDuplicates,
		"FailedContentMayBeRetaken":     testFailedMayBeRetaken,
		"ForcedIsNeverDuplicate":        testForced,
		"ConcurrentTwinsImportOnce":     testConcurrentTwins,
		"TwinWaitsForUncommittedTwin":   testTwinWaits,
		"SetHashRepeatsAndRefusesEnded": testSetHashRepeats,
		"SetOutcome":                    testSetOutcome,
		"InsideATransaction":            testInsideTransaction,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, pool)
		})
	}
}

func project(t *testing.T) string { return testsvc.Name(t) }

func version(name string, size int64) ingest.FileInfo {
	// Nanoseconds, as local folders report them: the ledger keeps microseconds.
	return ingest.FileInfo{Name: name, Size: size, ModTime: time.Date(2025, 3, 1, 12, 30, 15, 123456789, time.UTC), ETag: ""}
}

func sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// hashed records a file of project p on connection "c" and sets its content hash, as
// the job that takes it does.
func hashed(t *testing.T, l *jobhistory.Ledger, p string, f ingest.FileInfo, content [32]byte) int64 {
	t.Helper()
	id, err := l.Record(context.Background(), p, "c", f, false)
	require.NoError(t, err)
	_, _, err = l.SetHash(context.Background(), id, content)
	require.NoError(t, err)
	return id
}

func testRecordAndGet(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	l := jobhistory.NewLedger(pool)
	p := project(t)
	f := ingest.FileInfo{Name: "in/März #1.csv", Size: 42, ModTime: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), ETag: "0x8DC"}
	id, err := l.Record(ctx, p, "partner-sftp", f, false)
	require.NoError(t, err)
	e, err := l.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, id, e.ID)
	assert.Equal(t, p, e.Project)
	assert.Equal(t, "partner-sftp", e.Connection)
	assert.Equal(t, f.Name, e.File.Name)
	assert.True(t, f.SameVersion(e.File), "%+v", e.File)
	assert.Equal(t, jobhistory.OutcomeTaken, e.Outcome)
	assert.Nil(t, e.SHA256)
	assert.False(t, e.Forced)
	assert.Zero(t, e.DuplicateOf)
	assert.Empty(t, e.MovedTo)
	assert.WithinDuration(t, time.Now(), e.CreatedAt, time.Minute)

	// No modification time or ETag: stored as NULL, read back as zero.
	id, err = l.Record(ctx, p, "c", ingest.FileInfo{Name: "x", Size: 0}, true)
	require.NoError(t, err)
	e, err = l.Get(ctx, id)
	require.NoError(t, err)
	assert.True(t, e.File.ModTime.IsZero())
	assert.Empty(t, e.File.ETag)
	assert.True(t, e.Forced)

	_, err = l.Get(ctx, -1)
	assert.ErrorIs(t, err, jobhistory.ErrNotFound)
}

func testFindTaken(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	l := jobhistory.NewLedger(pool)
	p := project(t)
	f := version("in/a.csv", 10)
	_, found, err := l.FindTaken(ctx, p, "c", f)
	require.NoError(t, err)
	assert.False(t, found)

	first, err := l.Record(ctx, p, "c", f, false)
	require.NoError(t, err)
	require.NoError(t, l.SetOutcome(ctx, first, jobhistory.OutcomeImported, ""))
	second, err := l.Record(ctx, p, "c", f, true)
	require.NoError(t, err)

	e, found, err := l.FindTaken(ctx, p, "c", f)
	require.NoError(t, err)
	require.True(t, found, "the same version, with a nanosecond modification time")
	assert.Equal(t, second, e.ID, "the latest entry")

	for label, other := range map[string]ingest.FileInfo{
		"size":          version("in/a.csv", 11),
		"modified":      {Name: f.Name, Size: f.Size, ModTime: f.ModTime.Add(time.Second)},
		"etag":          {Name: f.Name, Size: f.Size, ModTime: f.ModTime, ETag: "0x1"},
		"no time":       {Name: f.Name, Size: f.Size},
		"path":          version("in/b.csv", 10),
		"path and case": version("in/A.csv", 10),
	} {
		_, found, err := l.FindTaken(ctx, p, "c", other)
		require.NoError(t, err)
		assert.False(t, found, "another %s is another version", label)
	}
	_, found, err = l.FindTaken(ctx, p, "other-connection", f)
	require.NoError(t, err)
	assert.False(t, found)
	_, found, err = l.FindTaken(ctx, project(t), "c", f)
	require.NoError(t, err)
	assert.False(t, found, "another project")
}

func testDuplicates(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	l := jobhistory.NewLedger(pool)
	p := project(t)
	content := sum("id;name\n1;one\n")

	first, err := l.Record(ctx, p, "c", version("in/orders-monday.csv", 14), false)
	require.NoError(t, err)
	prior, dup, err := l.SetHash(ctx, first, content)
	require.NoError(t, err)
	assert.False(t, dup)
	assert.Nil(t, prior)

	// Same content under another name while the first is still being imported.
	second, err := l.Record(ctx, p, "c", version("in/orders-copy.csv", 14), false)
	require.NoError(t, err)
	prior, dup, err = l.SetHash(ctx, second, content)
	require.NoError(t, err)
	assert.True(t, dup)
	require.NotNil(t, prior)
	assert.Equal(t, first, prior.ID)
	e, err := l.Get(ctx, second)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.OutcomeDuplicate, e.Outcome)
	assert.Equal(t, first, e.DuplicateOf)
	require.NotNil(t, e.SHA256)
	assert.Equal(t, content, *e.SHA256)

	// After the first is imported, still a duplicate; FindImported agrees.
	require.NoError(t, l.SetOutcome(ctx, first, jobhistory.OutcomePartial, "archive/orders-monday.csv"))
	third, err := l.Record(ctx, p, "other-connection", version("elsewhere.csv", 14), false)
	require.NoError(t, err)
	prior, dup, err = l.SetHash(ctx, third, content)
	require.NoError(t, err)
	assert.True(t, dup)
	assert.Equal(t, first, prior.ID)
	found, ok, err := l.FindImported(ctx, p, content)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, first, found.ID)
	assert.Equal(t, "archive/orders-monday.csv", found.MovedTo)

	// Other content, or another project, is no duplicate.
	other, err := l.Record(ctx, p, "c", version("in/orders-tuesday.csv", 14), false)
	require.NoError(t, err)
	_, dup, err = l.SetHash(ctx, other, sum("id;name\n2;two\n"))
	require.NoError(t, err)
	assert.False(t, dup)
	elsewhere, err := l.Record(ctx, project(t), "c", version("in/orders-monday.csv", 14), false)
	require.NoError(t, err)
	_, dup, err = l.SetHash(ctx, elsewhere, content)
	require.NoError(t, err)
	assert.False(t, dup)
	_, ok, err = l.FindImported(ctx, p, sum("never seen"))
	require.NoError(t, err)
	assert.False(t, ok)
}

func testFailedMayBeRetaken(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	l := jobhistory.NewLedger(pool)
	p := project(t)
	content := sum("bad file")
	first := hashed(t, l, p, version("a.csv", 8), content)
	require.NoError(t, l.SetOutcome(ctx, first, jobhistory.OutcomeFailed, "errors/a.csv"))

	_, ok, err := l.FindImported(ctx, p, content)
	require.NoError(t, err)
	assert.False(t, ok, "failed content was not imported")
	again, err := l.Record(ctx, p, "c", version("a.csv", 8), false)
	require.NoError(t, err)
	prior, dup, err := l.SetHash(ctx, again, content)
	require.NoError(t, err)
	assert.False(t, dup)
	assert.Nil(t, prior)
}

func testForced(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	l := jobhistory.NewLedger(pool)
	p := project(t)
	content := sum("twice")
	first := hashed(t, l, p, version("a.csv", 5), content)
	require.NoError(t, l.SetOutcome(ctx, first, jobhistory.OutcomeImported, ""))

	forced, err := l.Record(ctx, p, "c", version("a.csv", 5), true)
	require.NoError(t, err)
	prior, dup, err := l.SetHash(ctx, forced, content)
	require.NoError(t, err)
	assert.False(t, dup, "forced")
	require.NotNil(t, prior, "the earlier import is still reported")
	assert.Equal(t, first, prior.ID)
	e, err := l.Get(ctx, forced)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.OutcomeTaken, e.Outcome)
}

// Several nodes take files with the same content at once: exactly one imports.
func testConcurrentTwins(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	l := jobhistory.NewLedger(pool)
	p := project(t)
	content := sum("same everywhere")
	const n = 8
	ids := make([]int64, n)
	for i := range n {
		var err error
		ids[i], err = l.Record(ctx, p, "c", version("copy.csv", int64(i)), false)
		require.NoError(t, err)
	}
	dups := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, dups[i], errs[i] = l.SetHash(ctx, ids[i], content) })
	}
	wg.Wait()
	imports := 0
	for i := range n {
		require.NoError(t, errs[i])
		if !dups[i] {
			imports++
		}
	}
	assert.Equal(t, 1, imports)
}

// A file hashed inside a transaction not yet committed holds its content: a twin checked
// meanwhile waits for the commit and then sees it.
func testTwinWaits(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	p := project(t)
	content := sum("racing")
	l := jobhistory.NewLedger(pool)
	first, err := l.Record(ctx, p, "c", version("a.csv", 1), false)
	require.NoError(t, err)
	second, err := l.Record(ctx, p, "c", version("b.csv", 1), false)
	require.NoError(t, err)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, dup, err := jobhistory.NewLedger(tx).SetHash(ctx, first, content)
	require.NoError(t, err)
	require.False(t, dup)

	type result struct {
		dup bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		_, dup, err := l.SetHash(ctx, second, content)
		done <- result{dup, err}
	}()
	// Wait until the twin waits for the content lock.
	require.Eventually(t, func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 10*time.Millisecond, "the twin does not wait for the uncommitted hash")
	require.NoError(t, tx.Commit(ctx))
	r := <-done
	require.NoError(t, r.err)
	assert.True(t, r.dup)
}

func testSetHashRepeats(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	l := jobhistory.NewLedger(pool)
	p := project(t)
	content := sum("x")
	first := hashed(t, l, p, version("a.csv", 1), content)
	second, err := l.Record(ctx, p, "c", version("b.csv", 1), false)
	require.NoError(t, err)
	_, dup, err := l.SetHash(ctx, second, content)
	require.NoError(t, err)
	require.True(t, dup)

	// A retried job repeats SetHash: same answer.
	prior, dup, err := l.SetHash(ctx, second, content)
	require.NoError(t, err)
	assert.True(t, dup)
	assert.Equal(t, first, prior.ID)
	_, _, err = l.SetHash(ctx, second, sum("other"))
	assert.Error(t, err)

	// Taken files may be re-hashed; ended ones not.
	_, dup, err = l.SetHash(ctx, first, content)
	require.NoError(t, err)
	assert.False(t, dup)
	require.NoError(t, l.SetOutcome(ctx, first, jobhistory.OutcomeImported, ""))
	_, _, err = l.SetHash(ctx, first, content)
	assert.ErrorContains(t, err, "ended")

	_, _, err = l.SetHash(ctx, -1, content)
	assert.ErrorIs(t, err, jobhistory.ErrNotFound)
}

func testSetOutcome(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	l := jobhistory.NewLedger(pool)
	p := project(t)
	id, err := l.Record(ctx, p, "c", version("a.csv", 1), false)
	require.NoError(t, err)
	require.NoError(t, l.SetOutcome(ctx, id, jobhistory.OutcomeFailed, ""))
	// A retried job may end differently; where it moved the file is kept.
	require.NoError(t, l.SetOutcome(ctx, id, jobhistory.OutcomeImported, "archive/a-1.csv"))
	e, err := l.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.OutcomeImported, e.Outcome)
	assert.Equal(t, "archive/a-1.csv", e.MovedTo)
	assert.True(t, e.UpdatedAt.After(e.CreatedAt) || e.UpdatedAt.Equal(e.CreatedAt))

	assert.Error(t, l.SetOutcome(ctx, id, jobhistory.OutcomeTaken, ""), "taken is not an end")
	assert.Error(t, l.SetOutcome(ctx, id, jobhistory.Outcome("done"), ""))
	assert.ErrorContains(t, l.SetOutcome(ctx, id, jobhistory.OutcomeDuplicate, ""), "cannot become duplicate")
	assert.ErrorIs(t, l.SetOutcome(ctx, -1, jobhistory.OutcomeImported, ""), jobhistory.ErrNotFound)

	// A duplicate records where it was moved, and stays a duplicate.
	twin, err := l.Record(ctx, p, "c", version("b.csv", 1), false)
	require.NoError(t, err)
	_, _, err = l.SetHash(ctx, id, sum("a"))
	assert.Error(t, err, "imported: hash fixed")
	hashed(t, l, p, version("c.csv", 1), sum("b"))
	_, dup, err := l.SetHash(ctx, twin, sum("b"))
	require.NoError(t, err)
	require.True(t, dup)
	require.NoError(t, l.SetOutcome(ctx, twin, jobhistory.OutcomeDuplicate, "errors/b.csv"))
	assert.Error(t, l.SetOutcome(ctx, twin, jobhistory.OutcomeImported, ""), "a duplicate is not imported")
	e, err = l.Get(ctx, twin)
	require.NoError(t, err)
	assert.Equal(t, jobhistory.OutcomeDuplicate, e.Outcome)
	assert.Equal(t, "errors/b.csv", e.MovedTo)
}

// The ledger works on a caller's transaction, and nothing is kept when it rolls back.
func testInsideTransaction(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	p := project(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	l := jobhistory.NewLedger(tx)
	id, err := l.Record(ctx, p, "c", version("a.csv", 1), false)
	require.NoError(t, err)
	_, dup, err := l.SetHash(ctx, id, sum("in tx"))
	require.NoError(t, err)
	assert.False(t, dup)
	require.NoError(t, tx.Rollback(ctx))

	_, err = jobhistory.NewLedger(pool).Get(ctx, id)
	assert.ErrorIs(t, err, jobhistory.ErrNotFound)
}
