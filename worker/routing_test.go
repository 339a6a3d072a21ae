package worker

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Every step, of a foreground job or a cluster one, goes to a queue that a node of its
// kind works; a notification goes to the cluster's queue whoever ran the job, so that one
// a foreground command could not send before it exited is sent by serve or the next run.
func TestEveryStepGoesToAQueueANodeWorks(t *testing.T) {
	t.Parallel()
	for _, fg := range []bool{false, true} {
		job := &jobhistory.Job{ID: 1, Project: "customers", Foreground: fg}
		foreground := ""
		if fg {
			foreground = job.Project
		}
		worked := queues(foreground)
		check := func(kind string, queue string) {
			_, ok := worked[queue]
			assert.True(t, ok, "%s step of a job (foreground %v) goes to queue %s, which no node works", kind, fg, queue)
		}
		for kind := range stageWorkers {
			_, opts, err := (&riverSteps{}).args(imports.Step{Kind: kind, Job: job, Chunk: 1, Execution: "x"})
			require.NoError(t, err)
			check(string(kind), opts.Queue)
			if kind == imports.StepNotify {
				assert.Equal(t, QueueNotify, opts.Queue)
			}
		}
		for kind := range exportKinds {
			_, opts, err := (&riverExportSteps{}).args(exports.Step{Kind: kind, Job: job, Unit: "x", Seq: 1})
			require.NoError(t, err)
			check("export "+string(kind), opts.Queue)
			if kind == exports.StepNotify {
				assert.Equal(t, QueueNotify, opts.Queue)
			}
		}
	}
}
