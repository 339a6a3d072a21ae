package ingest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/dmfpipe/dmfpipe/ingest"
)

// clock is a fake clock moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func file(name string, size int64, mod int, etag string) ingest.FileInfo {
	return ingest.FileInfo{Name: name, Size: size, ModTime: time.Date(2025, 3, 1, 12, 0, mod, 0, time.UTC), ETag: etag}
}

func TestWatcherWaitsMinAgeAcrossListings(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	w := ingest.NewWatcher(clk.Now)
	const minAge = 2 * time.Minute
	a := file("in/a.csv", 100, 0, "")

	stable, recheck := w.Stable("p", minAge, []ingest.FileInfo{a})
	assert.Empty(t, stable, "a file seen once is not stable")
	assert.Equal(t, minAge, recheck)

	clk.Advance(time.Minute)
	stable, recheck = w.Stable("p", minAge, []ingest.FileInfo{a})
	assert.Empty(t, stable, "unchanged for less than min_age")
	assert.Equal(t, time.Minute, recheck)

	clk.Advance(time.Minute)
	stable, recheck = w.Stable("p", minAge, []ingest.FileInfo{a})
	assert.Equal(t, []ingest.FileInfo{a}, stable, "unchanged for min_age")
	assert.Zero(t, recheck, "nothing else waits")
}

func TestWatcherRestartsTheWaitOnEveryChange(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	w := ingest.NewWatcher(clk.Now)
	const minAge = time.Minute
	for _, version := range []ingest.FileInfo{
		file("a.csv", 10, 0, ""),
		file("a.csv", 20, 0, ""),    // grew
		file("a.csv", 20, 5, ""),    // touched
		file("a.csv", 20, 5, "0x2"), // new etag, same size and time
	} {
		stable, _ := w.Stable("p", minAge, []ingest.FileInfo{version})
		assert.Empty(t, stable, "a changed file waits again: %+v", version)
		clk.Advance(59 * time.Second)
	}
	last := file("a.csv", 20, 5, "0x2")
	clk.Advance(time.Second)
	stable, _ := w.Stable("p", minAge, []ingest.FileInfo{last})
	assert.Equal(t, []ingest.FileInfo{last}, stable)
}

func TestWatcherKeepsProjectsAndFilesApart(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	w := ingest.NewWatcher(clk.Now)
	a, b := file("a.csv", 1, 0, ""), file("b.csv", 2, 0, "")

	w.Stable("p1", time.Minute, []ingest.FileInfo{a})
	clk.Advance(30 * time.Second)
	w.Stable("p1", time.Minute, []ingest.FileInfo{a, b})
	w.Stable("p2", time.Minute, []ingest.FileInfo{a})
	clk.Advance(30 * time.Second)

	stable, recheck := w.Stable("p1", time.Minute, []ingest.FileInfo{a, b})
	assert.Equal(t, []ingest.FileInfo{a}, stable)
	assert.Equal(t, 30*time.Second, recheck, "b is stable in 30s")
	stable, _ = w.Stable("p2", time.Minute, []ingest.FileInfo{a})
	assert.Empty(t, stable, "p2 first saw a 30s ago")
}

func TestWatcherForgetsFilesThatLeaveTheListing(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	w := ingest.NewWatcher(clk.Now)
	a := file("a.csv", 1, 0, "")
	w.Stable("p", time.Minute, []ingest.FileInfo{a})
	clk.Advance(time.Minute)
	w.Stable("p", time.Minute, nil) // moved away (or listing came back empty)
	stable, _ := w.Stable("p", time.Minute, []ingest.FileInfo{a})
	assert.Empty(t, stable, "a file that comes back waits again")
}

// The Watcher keeps nothing outside memory: a new one (a restarted process) waits again.
func TestWatcherAfterRestartWaitsAgain(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := file("a.csv", 1, 0, "")
	ingest.NewWatcher(clk.Now).Stable("p", time.Minute, []ingest.FileInfo{a})
	clk.Advance(time.Hour)
	restarted := ingest.NewWatcher(clk.Now)
	stable, recheck := restarted.Stable("p", time.Minute, []ingest.FileInfo{a})
	assert.Empty(t, stable)
	assert.Equal(t, time.Minute, recheck)
}

func TestWatcherZeroMinAgeTakesAtOnce(t *testing.T) {
	t.Parallel()
	w := ingest.NewWatcher(nil)
	a := file("a.csv", 1, 0, "")
	stable, recheck := w.Stable("p", 0, []ingest.FileInfo{a})
	assert.Equal(t, []ingest.FileInfo{a}, stable)
	assert.Zero(t, recheck)
}
