package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// ErrUnknownProject is returned for a project name that is not in the configuration.
var ErrUnknownProject = errors.New("unknown project")

// ErrUnknownTrigger is returned by ShouldRun for a discover job whose trigger is neither
// TriggerSchedule nor TriggerRunNow; retrying cannot help, so the worker cancels the job.
var ErrUnknownTrigger = errors.New("unknown trigger")

// Store keeps whether each project is paused, in the job history's projects table
// (jobhistory.Store.SetPaused), so that every node sees a pause at once and it survives
// restarts. A project without a record is in the state its configuration gives
// (`paused:`, false by default); Pause and Resume record a state that overrides it.
type Store struct {
	DB jobhistory.DBTX
	// Projects are the configured projects. Names not among them are refused.
	Projects []*config.Project
}

// ProjectState is whether a project is paused, and why.
type ProjectState struct {
	Name   string
	Paused bool
	// PausedBy is who paused it through Pause; empty when it is paused by its
	// configuration or not paused.
	PausedBy string
	// FromConfig is true when no Pause or Resume was recorded and the state is the
	// configuration's.
	FromConfig bool
	// UpdatedAt is when Pause or Resume was last recorded; zero when FromConfig.
	UpdatedAt time.Time
	// Configured is false for a recorded project that is no longer in the configuration.
	Configured bool
}

// Pause records that by paused project: its scheduled discovers are skipped until Resume.
// Run-now still works.
func (s *Store) Pause(ctx context.Context, project, by string) error {
	return s.set(ctx, project, true, by)
}

// Resume records that project runs on its schedule again, even when its configuration
// says `paused: true`.
func (s *Store) Resume(ctx context.Context, project string) error {
	return s.set(ctx, project, false, "")
}

func (s *Store) set(ctx context.Context, project string, paused bool, by string) error {
	if s.project(project) == nil {
		return fmt.Errorf("project %q: %w", project, ErrUnknownProject)
	}
	return jobhistory.NewStore(s.DB).SetPaused(ctx, project, paused, by)
}

// Paused reports whether project is paused.
func (s *Store) Paused(ctx context.Context, project string) (bool, error) {
	p := s.project(project)
	if p == nil {
		return false, fmt.Errorf("project %q: %w", project, ErrUnknownProject)
	}
	rec, ok, err := jobhistory.NewStore(s.DB).PauseRecordOf(ctx, project)
	if err != nil || !ok {
		return p.Paused, err
	}
	return rec.Paused, nil
}

// List returns the state of every configured project, in configuration order, followed by
// projects recorded in the database but no longer configured, by name.
func (s *Store) List(ctx context.Context) ([]ProjectState, error) {
	recorded, err := jobhistory.NewStore(s.DB).PauseRecords(ctx)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]ProjectState, len(recorded))
	for _, r := range recorded {
		byName[r.Project] = ProjectState{Name: r.Project, Paused: r.Paused, PausedBy: r.By, UpdatedAt: r.UpdatedAt}
	}
	states := make([]ProjectState, 0, len(s.Projects)+len(recorded))
	for _, p := range s.Projects {
		st, ok := byName[p.Name]
		if !ok {
			st = ProjectState{Name: p.Name, Paused: p.Paused, FromConfig: true}
		}
		st.Configured = true
		delete(byName, p.Name)
		states = append(states, st)
	}
	for _, r := range recorded { // by name
		if st, ok := byName[r.Project]; ok {
			states = append(states, st)
		}
	}
	return states, nil
}

func (s *Store) project(name string) *config.Project {
	for _, p := range s.Projects {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// ShouldRun tells the discover worker whether to go on with args. It returns false with a
// reason to log for a scheduled tick of a paused project and for a project that is no
// longer configured (a tick inserted before a configuration change); the worker then
// completes the job without doing anything. Run-now runs whether paused or not.
func ShouldRun(ctx context.Context, store *Store, args DiscoverArgs) (bool, string, error) {
	if store.project(args.Project) == nil {
		return false, fmt.Sprintf("project %q is not in the configuration", args.Project), nil
	}
	switch args.Trigger {
	case TriggerRunNow:
		return true, "", nil
	case TriggerSchedule:
		paused, err := store.Paused(ctx, args.Project)
		if err != nil {
			return false, "", err
		}
		if paused {
			return false, fmt.Sprintf("project %q is paused", args.Project), nil
		}
		return true, "", nil
	default:
		return false, "", fmt.Errorf("discover for project %q: trigger %q: %w", args.Project, args.Trigger, ErrUnknownTrigger)
	}
}
