package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

type projectView struct {
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	Schedule   string    `json:"schedule,omitempty"`
	Timezone   string    `json:"timezone,omitempty"`
	Next       time.Time `json:"next_run,omitzero"`
	Paused     bool      `json:"paused"`
	PausedBy   string    `json:"paused_by,omitempty"`
	FromConfig bool      `json:"paused_by_config"`
	Configured bool      `json:"configured"`
	// Last is the project's newest job; nil before its first.
	Last *jobListItem `json:"last_job,omitempty"`
	// Audit are the latest pauses, resumes and runs now, newest first.
	Audit []jobhistory.ProjectEntry `json:"audit"`
}

// projectAudit is how many audit entries the projects page shows per project.
const projectAudit = 3

func (c *Console) schedules() *scheduler.Store {
	return &scheduler.Store{DB: c.opts.Pool, Projects: c.cfg.Projects}
}

func (c *Console) projectsView(r *http.Request) (any, error) {
	ctx := r.Context()
	states, err := c.schedules().List(ctx)
	if err != nil {
		return nil, err
	}
	hist := jobhistory.NewStore(c.opts.Pool)
	out := make([]projectView, 0, len(states))
	for _, st := range states {
		pv := projectView{Name: st.Name, Paused: st.Paused, PausedBy: st.PausedBy, FromConfig: st.FromConfig && st.Paused, Configured: st.Configured}
		if p, err := c.opts.App.Project(st.Name); err == nil {
			pv.Kind, pv.Schedule, pv.Timezone = p.Kind, p.Schedule, p.Timezone
			if p.Schedule != "" {
				if next, err := scheduler.Next(p, 1); err == nil && len(next) == 1 {
					pv.Next = next[0]
				}
			}
		}
		last, _, err := hist.ListJobs(ctx, jobhistory.JobFilter{Project: st.Name, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(last) == 1 {
			it := newJobListItem(&last[0].Job, last[0].File)
			pv.Last = &it
		}
		if pv.Audit, err = hist.ProjectEntries(ctx, st.Name, projectAudit); err != nil {
			return nil, err
		}
		out = append(out, pv)
	}
	return map[string]any{"projects": out}, nil
}

// audit records a project action in the project's audit trail.
func (c *Console) audit(r *http.Request, project, action string, attrs map[string]any) error {
	return jobhistory.NewStore(c.opts.Pool).AddProjectEntry(r.Context(),
		jobhistory.ProjectEntry{Project: project, Actor: c.me(r).actor(), Action: action, Attrs: attrs})
}

func (c *Console) doPause(r *http.Request, _ *imports.Action) (result, error) {
	name := r.PathValue("project")
	if err := c.schedules().Pause(r.Context(), name, c.me(r).actor()); err != nil {
		return result{}, err
	}
	if err := c.audit(r, name, jobhistory.ProjectPause, nil); err != nil {
		return result{}, err
	}
	return result{Next: "/projects", Message: fmt.Sprintf("Project %s paused: its schedule does not fire until it is resumed.", name)}, nil
}

func (c *Console) doResume(r *http.Request, _ *imports.Action) (result, error) {
	name := r.PathValue("project")
	if err := c.schedules().Resume(r.Context(), name); err != nil {
		return result{}, err
	}
	if err := c.audit(r, name, jobhistory.ProjectResume, nil); err != nil {
		return result{}, err
	}
	return result{Next: "/projects", Message: fmt.Sprintf("Project %s resumed: it runs on its schedule again.", name)}, nil
}

func (c *Console) doRunNow(r *http.Request, _ *imports.Action) (result, error) {
	name := r.PathValue("project")
	if _, err := c.opts.App.Project(name); err != nil {
		return result{}, fmt.Errorf("%w: %w", errNotFound, err)
	}
	id, err := scheduler.RunNow(r.Context(), c.opts.Worker.Client(), name)
	if err != nil {
		return result{}, err
	}
	if err := c.audit(r, name, jobhistory.ProjectRunNow, map[string]any{"river_job": id}); err != nil {
		return result{}, err
	}
	return result{Next: "/projects", Data: map[string]any{"river_job": id},
		Message: fmt.Sprintf("Project %s: its discovery runs now; new jobs show in the job list.", name)}, nil
}

func (c *Console) meView(r *http.Request) (any, error) { return c.me(r), nil }
