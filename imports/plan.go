package imports

import (
	"fmt"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// PlanChunks numbers the row ranges cut for upload as chunks from first on, and spreads
// them over lanes: chunk k goes to lane ((k-1) mod lanes)+1, so that consecutive chunks
// import in parallel.
func PlanChunks(job int64, ranges []staging.RowRange, lanes, first int) []jobhistory.Chunk {
	lanes = max(lanes, 1)
	chunks := make([]jobhistory.Chunk, len(ranges))
	for i, r := range ranges {
		no := first + i
		chunks[i] = jobhistory.Chunk{JobID: job, No: no, Lane: (no-1)%lanes + 1, FirstRow: r.First, LastRow: r.Last, RowCount: r.Count}
	}
	return chunks
}

// DefinitionGroup is the definition group (F&O data project) of a lane of an import
// project: target.definition_group (the project's name when unset), with "-L<lane>" when
// the project imports over several lanes: F&O imports one package at a time per data
// project, so parallel lanes need a data project each.
func DefinitionGroup(p *config.Project, lane int) string {
	group := p.Target.DefinitionGroup
	if group == "" {
		group = p.Name
	}
	if p.Target.Lanes > 1 {
		return fmt.Sprintf("%s-L%d", group, lane)
	}
	return group
}

// ExecutionID is the DMF execution id of a chunk's upload attempt:
// <project>-<job>-<chunk>-<attempt>-<nonce>. It is deterministic, so that a crashed or
// retried upload asks F&O about the execution it may have sent instead of sending it
// again, and the job's random nonce keeps it from ever repeating across databases (a
// restore, a re-created database, a second installation against one environment), where
// F&O would refuse it or, worse, answer about another installation's package. Jobs
// recorded before the nonce existed have none.
func ExecutionID(project string, job int64, nonce string, chunk, attempt int) string {
	id := fmt.Sprintf("%s-%d-%d-%d", project, job, chunk, attempt)
	if nonce != "" {
		id += "-" + nonce
	}
	return id
}
