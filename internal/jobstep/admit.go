package jobstep

import (
	"context"
	"fmt"
	"time"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// How long a step left for another node waits before it is offered again: short, since
// the node that knows the step may be busy and whichever node fetches it next takes it
// (the cost is a fetch and a snooze by a node that does not know it); and how long a
// step waits when no node knows its project.
const (
	LeaveFor       = 500 * time.Millisecond
	WaitForProject = 30 * time.Second
)

// Admit says whether this node runs a step of j, given version, this node's version of
// the job's project (empty when this node does not know it), and says so on the job's
// timeline: nil runs the step; a step left for another node, or waiting for a node that
// knows the project, gets a SnoozeError. what names the kind of project in messages
// ("project", "export project").
func (b *Base) Admit(ctx context.Context, j *jobhistory.Job, step, what, version string) error {
	a, err := b.decide(ctx, j, version)
	switch {
	case err != nil:
		return err
	case a.LeftFor != "":
		b.TellOnce(ctx, j.ID, step, "info", fmt.Sprintf("%s left for node %s, which knows %s %s as this job started it (version %s)",
			step, a.LeftFor, what, j.Project, j.ProjectVersion))
		return Snooze(LeaveFor)
	case !a.Run:
		b.TellOnce(ctx, j.ID, step, "warn", fmt.Sprintf("no running node knows %s %s: %s waits for a node whose configuration has it", what, j.Project, step))
		b.c.Log.Warn("a job's step waits for a node that knows its project", "job", j.ID, "project", j.Project, "step", step)
		return Snooze(WaitForProject)
	case a.AdoptedFrom != "":
		b.Event(ctx, j.ID, step, "warn", fmt.Sprintf("%s %s changed since this job started (version %s, now %s) and no running node has the old settings: going on with the new ones",
			what, j.Project, a.AdoptedFrom, version), map[string]any{"from": a.AdoptedFrom, "to": version})
	}
	return nil
}

// admission is which node runs a job's step (see Base.decide).
type admission struct {
	// Run is true when this node runs the step.
	Run bool
	// AdoptedFrom is the job's version of its project when this node took the job over
	// at its own version (recorded, and set on the job); empty otherwise.
	AdoptedFrom string
	// LeftFor is a live node that knows the project at the job's version, when the step
	// waits for it.
	LeftFor string
}

// decide decides which node runs a step of j, given version, this node's version of the
// job's project (empty when this node does not know the project):
//
//   - this node knows the project at the job's version: it runs the step;
//   - another live node knows that version: the step waits for that node (a node never
//     fails a job it cannot run; in a rolling deploy the new version reaches the nodes one
//     after another);
//   - no live node knows that version but this node knows the project: it adopts the job
//     at its own version (the project's settings changed while the job ran, and no node is
//     left with the old ones);
//   - no node knows the project: the step waits for one that does.
func (b *Base) decide(ctx context.Context, j *jobhistory.Job, version string) (admission, error) {
	known := version != ""
	if known && (version == j.ProjectVersion || j.ProjectVersion == "") {
		return admission{Run: true}, nil
	}
	hist := b.Hist(b.c.DB)
	if j.ProjectVersion != "" {
		others, err := hist.NodesKnowing(ctx, j.Project, j.ProjectVersion, b.c.Node, b.c.Foreground, b.c.NodeFresh)
		if err != nil {
			return admission{}, err
		}
		if len(others) > 0 {
			return admission{LeftFor: others[0]}, nil
		}
	}
	if !known {
		return admission{}, nil
	}
	if err := hist.SetProjectVersion(ctx, j.ID, version); err != nil {
		return admission{}, err
	}
	from := j.ProjectVersion
	j.ProjectVersion = version
	return admission{Run: true, AdoptedFrom: from}, nil
}
