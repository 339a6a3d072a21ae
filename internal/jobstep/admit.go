package jobstep

import (
	"context"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Admission is which node runs a job's step (see Base.Admit).
type Admission struct {
	// Run is true when this node runs the step.
	Run bool
	// AdoptedFrom is the job's version of its project when this node took the job over
	// at its own version (recorded, and set on the job); empty otherwise.
	AdoptedFrom string
	// LeftFor is a live node that knows the project at the job's version, when the step
	// waits for it.
	LeftFor string
}

// Admit decides which node runs a step of j, given version, this node's version of the
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
//
// What the stage says about it on the timeline is left to the stage.
func (b *Base) Admit(ctx context.Context, j *jobhistory.Job, version string) (Admission, error) {
	known := version != ""
	if known && (version == j.ProjectVersion || j.ProjectVersion == "") {
		return Admission{Run: true}, nil
	}
	hist := b.Hist(b.c.DB)
	if j.ProjectVersion != "" {
		others, err := hist.NodesKnowing(ctx, j.Project, j.ProjectVersion, b.c.Node, b.c.Foreground, b.c.NodeFresh)
		if err != nil {
			return Admission{}, err
		}
		if len(others) > 0 {
			return Admission{LeftFor: others[0]}, nil
		}
	}
	if !known {
		return Admission{}, nil
	}
	if err := hist.SetProjectVersion(ctx, j.ID, version); err != nil {
		return Admission{}, err
	}
	from := j.ProjectVersion
	j.ProjectVersion = version
	return Admission{Run: true, AdoptedFrom: from}, nil
}
