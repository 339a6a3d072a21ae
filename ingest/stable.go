package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sighting is a version of a listed file and when that version was first listed.
type Sighting struct {
	// File is the version seen; File.Name is the file's path in its connection.
	File FileInfo
	// Since is when this version was first listed, by the store's clock.
	Since time.Time
}

// SightingStore keeps, per project and connection, the sightings of the files last listed,
// where every node sees them (package jobhistory keeps them in Postgres).
type SightingStore interface {
	// Update calls next with the store's current time and the sightings stored for the
	// project's connection (in no particular order), and stores the sightings next returns
	// in their place: a name next leaves out is forgotten. Concurrent Updates of one
	// project and connection run one after the other, each seeing what the one before
	// stored. When Update returns an error, nothing was stored.
	//
	// The current time is the store's, not the caller's: Since is compared with it, and
	// the nodes' clocks differ.
	Update(ctx context.Context, project, connection string, next func(now time.Time, prev []Sighting) []Sighting) error
}

// Settle is the stability rule. Given the sightings of the previous listing, a complete new
// listing (unique names), the time now and min_age, it returns the sightings to keep (one
// per listed file, in listing order), the files stable now (in listing order) and recheck.
//
// A file is stable once its size, modification time and ETag are unchanged across two
// listings at least minAge apart, so that an upload still being written is never read: a
// file listed in the version it had before keeps that version's Since, a new or changed
// file is seen since now, and a file is stable when now is at least minAge after its
// Since. With a minAge of zero or less every listed file is stable at once. A file missing
// from the listing is forgotten; if it comes back it waits again.
//
// recheck is how long until the first of the other files could be stable, zero when none
// waits: a caller that lists on a schedule (a nightly cron) should list again after
// recheck rather than leave a file waiting for the next tick.
//
// A Since after now (the clock went back) counts as now, so that no file ever waits more
// than minAge after the listing that settles it.
func Settle(prev []Sighting, listing []FileInfo, now time.Time, minAge time.Duration) (next []Sighting, stable []FileInfo, recheck time.Duration) {
	before := make(map[string]Sighting, len(prev))
	for _, s := range prev {
		before[s.File.Name] = s
	}
	next = make([]Sighting, 0, len(listing))
	for _, f := range listing {
		s, ok := before[f.Name]
		if !ok || !s.File.SameVersion(f) || s.Since.After(now) {
			s = Sighting{File: f, Since: now}
		}
		next = append(next, s)
		if age := now.Sub(s.Since); age >= minAge {
			stable = append(stable, f)
		} else if wait := minAge - age; recheck == 0 || wait < recheck {
			recheck = wait
		}
	}
	return next, stable, recheck
}

// Watcher decides when listed files are stable enough to take (see Settle), remembering
// the sightings in a SightingStore. With a store shared by every node (jobhistory's), a
// wait one node started is finished by whichever node lists the project next, and a
// restart does not start it again.
//
// A Watcher is safe for concurrent use.
type Watcher struct {
	store SightingStore
}

// NewWatcher returns a Watcher keeping its sightings in store.
func NewWatcher(store SightingStore) *Watcher { return &Watcher{store: store} }

// Stable records a complete listing of a project's source connection and returns, in
// listing order, the files whose version has not changed for at least minAge since it
// was first listed, and recheck, how long until the first of the other files could be
// stable (zero when none waits). See Settle for the rule.
//
// Call it after the listing is taken: the store's clock is read inside, and a version
// first seen counts from then. A listing holding a name twice is an error, and nothing is
// stored.
func (w *Watcher) Stable(ctx context.Context, project, connection string, minAge time.Duration, listing []FileInfo) (stable []FileInfo, recheck time.Duration, err error) {
	if project == "" || connection == "" {
		return nil, 0, errors.New("checking stability: the project and the connection must be named")
	}
	seen := make(map[string]bool, len(listing))
	for i, f := range listing {
		if f.Name == "" {
			return nil, 0, fmt.Errorf("checking stability of project %s: file %d of the listing has no name", project, i+1)
		}
		if seen[f.Name] {
			return nil, 0, fmt.Errorf("checking stability of project %s: %s is listed twice", project, f.Name)
		}
		seen[f.Name] = true
	}
	err = w.store.Update(ctx, project, connection, func(now time.Time, prev []Sighting) []Sighting {
		var next []Sighting
		// Update may call next again (a retried transaction): only its last answer counts.
		next, stable, recheck = Settle(prev, listing, now, minAge)
		return next
	})
	if err != nil {
		return nil, 0, fmt.Errorf("checking stability of project %s: %w", project, err)
	}
	return stable, recheck, nil
}
