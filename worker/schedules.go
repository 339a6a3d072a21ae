package worker

import (
	"context"
	"maps"
	"slices"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// Schedules across nodes. River fires periodic jobs on the elected leader only, from the
// periodic jobs its own client has. So that the ticks of a project fire whichever node
// leads, even one whose configuration lacks the project (a rolling deploy, nodes with
// different projects), every serve node registers its scheduled projects' schedules in
// the node registry and adds the periodic jobs of the projects only other serve nodes
// know, at start and at every ReclaimInterval; a project no live node has any more loses
// its periodic job. The discover a leader inserts for a project it lacks is left to a
// node that knows it (imports.Stages.Discover).

// ownSchedules are this node's scheduled projects' schedules.
func ownSchedules(cfg *config.Config) map[string]jobhistory.Schedule {
	out := map[string]jobhistory.Schedule{}
	for _, p := range cfg.Projects {
		if p.Schedule != "" {
			out[p.Name] = jobhistory.Schedule{Cron: p.Schedule, Timezone: p.Timezone}
		}
	}
	return out
}

// syncSchedules adds the periodic jobs of the scheduled projects other serve nodes know
// and this node's configuration lacks, and removes those no registered node has any more.
func (w *Worker) syncSchedules(ctx context.Context) {
	if !w.periodic {
		return
	}
	nodes, err := jobhistory.NewStore(w.pool).Nodes(ctx)
	if err != nil {
		w.log.Warn("reading the schedules of other nodes", "err", err)
		return
	}
	own := ownSchedules(w.cfg)
	want := map[string]jobhistory.Schedule{}
	for _, n := range nodes { // oldest first: the first node to register a project's schedule wins
		if n.ID == w.id || n.Foreground {
			continue
		}
		for project, s := range n.Schedules {
			if _, mine := own[project]; mine {
				continue
			}
			if _, seen := want[project]; !seen {
				want[project] = s
			}
		}
	}
	for _, project := range slices.Sorted(maps.Keys(w.foreign)) {
		if s, ok := want[project]; !ok || s != w.foreign[project] {
			w.client.PeriodicJobs().RemoveByID(scheduler.PeriodicJobID(project))
			delete(w.foreign, project)
			w.log.Info("stopped firing the schedule of a project no other node has now", "project", project)
		}
	}
	for _, project := range slices.Sorted(maps.Keys(want)) {
		s := want[project]
		if _, ok := w.foreign[project]; ok {
			continue
		}
		job, err := scheduler.PeriodicJob(&config.Project{Name: project, Schedule: s.Cron, Timezone: s.Timezone})
		if err != nil {
			w.log.Warn("another node's schedule does not parse here", "project", project, "schedule", s.Cron, "err", err)
			continue
		}
		if _, err := w.client.PeriodicJobs().AddSafely(job); err != nil {
			w.log.Warn("adding another node's schedule", "project", project, "err", err)
			continue
		}
		w.foreign[project] = s
		w.log.Info("firing the schedule of a project another node has", "project", project, "schedule", s.Cron, "timezone", s.Timezone)
	}
}
