package ingest

import (
	"sync"
	"time"
)

// Watcher decides when listed files are stable enough to take: a file is stable once its
// size, modification time and ETag are unchanged across two listings at least min_age
// apart, so that an upload still being written is never read.
//
// The Watcher is pure logic over listings: it keeps, per (project, file name), the version
// last seen and when that version was first seen, in memory only. Nothing is persisted, so
// after a restart a file is new again and waits min_age from its first listing. A file
// missing from a project's listing is forgotten; if it comes back it waits again.
//
// A Watcher is safe for concurrent use.
type Watcher struct {
	now func() time.Time

	mu   sync.Mutex
	seen map[string]map[string]sighting // project → name → sighting
}

type sighting struct {
	file  FileInfo
	since time.Time // when this version was first listed
}

// NewWatcher returns a Watcher reading the time from now (time.Now when nil).
func NewWatcher(now func() time.Time) *Watcher {
	if now == nil {
		now = time.Now
	}
	return &Watcher{now: now, seen: map[string]map[string]sighting{}}
}

// Stable records a project's complete listing and returns, in listing order, the files
// whose version has not changed for at least minAge since it was first listed. With a
// minAge of zero or less every listed file is stable at once.
//
// recheck is how long until the first of the other files could be stable, zero when none
// waits: a caller that lists on a schedule (a nightly cron) should list again after
// recheck rather than leave a file waiting for the next tick.
func (w *Watcher) Stable(project string, minAge time.Duration, listing []FileInfo) (stable []FileInfo, recheck time.Duration) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.seen[project]
	next := make(map[string]sighting, len(listing))
	for _, f := range listing {
		s, ok := prev[f.Name]
		if !ok || !s.file.SameVersion(f) {
			s = sighting{file: f, since: now}
		}
		next[f.Name] = s
		if age := now.Sub(s.since); age >= minAge {
			stable = append(stable, f)
		} else if wait := minAge - age; recheck == 0 || wait < recheck {
			recheck = wait
		}
	}
	if len(next) == 0 {
		delete(w.seen, project)
	} else {
		w.seen[project] = next
	}
	return stable, recheck
}
