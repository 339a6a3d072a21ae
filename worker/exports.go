package worker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

// The River side of the export stages (package exports): their job kinds and queues.
// Exports have two queues of their own: export (requests, deliveries, dequeues,
// finalizes: downloads and writes) and export_poll (status and URL polls, which snooze
// between calls). Their notifications go to the notify queue.
const (
	QueueExport     = "export"
	QueueExportPoll = "export_poll"
)

// exportWorkers is how many jobs of each export queue a node runs at once: a project runs
// one export at a time, and its steps one after another, so a node's few slots serve
// several projects; with the import stages' they fit database.max_conns' default.
var exportWorkers = map[string]int{QueueExport: 2, QueueExportPoll: 2}

// The export stages' settings. A delivery downloads a package and writes every file of
// it (a million rows is minutes on a slow SFTP server); a request waits up to the dmf
// client's long timeout for a synchronous ExportToPackage; a dequeue makes one call.
var (
	stageExportRequest  = stage{queue: QueueExport, timeout: 2 * time.Hour, maxAttempts: 10, retry: retryAfter(15*time.Second, 15*time.Minute), unique: uniqueUnfinished}
	stageExportPoll     = stage{queue: QueueExportPoll, timeout: 30 * time.Minute, maxAttempts: 20, retry: retryAfter(10*time.Second, 10*time.Minute), unique: uniqueUnfinished}
	stageExportDeliver  = stage{queue: QueueExport, timeout: 6 * time.Hour, maxAttempts: 8, retry: retryAfter(15*time.Second, 15*time.Minute), unique: uniqueUnfinished}
	stageDequeue        = stage{queue: QueueExport, timeout: 30 * time.Minute, maxAttempts: 10, retry: retryAfter(10*time.Second, 10*time.Minute), unique: uniqueUnfinished}
	stageExportFinalize = stage{queue: QueueExport, timeout: 30 * time.Minute, maxAttempts: 10, retry: retryAfter(10*time.Second, 10*time.Minute), unique: uniqueEver}
	stageExportNotify   = stage{queue: QueueNotify, timeout: 5 * time.Minute, maxAttempts: 8, retry: retryAfter(30*time.Second, 30*time.Minute), unique: uniqueEver}
)

// ExportRequestArgs sends a package export's ExportToPackage.
type ExportRequestArgs struct {
	JobID int64 `json:"job_id" river:"unique"`
}

// ExportPollArgs follows a package export's execution until it ends.
type ExportPollArgs struct {
	JobID int64 `json:"job_id" river:"unique"`
}

// ExportDeliverArgs writes one package of a job to its destination: the execution's
// (package export) or a recurring message's, by CorrelationId.
type ExportDeliverArgs struct {
	JobID int64  `json:"job_id" river:"unique"`
	Unit  string `json:"unit" river:"unique"`
}

// DequeueArgs takes the seq-th message of a recurring export's job.
type DequeueArgs struct {
	JobID int64 `json:"job_id" river:"unique"`
	Seq   int   `json:"seq" river:"unique"`
}

// ExportFinalizeArgs ends an export job.
type ExportFinalizeArgs struct {
	JobID int64 `json:"job_id" river:"unique"`
}

// ExportNotifyArgs tells a project's people how an export job ended.
type ExportNotifyArgs struct {
	JobID int64 `json:"job_id" river:"unique"`
}

// Kind and InsertOpts implement river.JobArgs and river.JobArgsWithInsertOpts.

func (ExportRequestArgs) Kind() string                  { return "dmfpipe.export_request" }
func (ExportRequestArgs) InsertOpts() river.InsertOpts  { return stageExportRequest.opts() }
func (ExportPollArgs) Kind() string                     { return "dmfpipe.export_poll" }
func (ExportPollArgs) InsertOpts() river.InsertOpts     { return stageExportPoll.opts() }
func (ExportDeliverArgs) Kind() string                  { return "dmfpipe.export_deliver" }
func (ExportDeliverArgs) InsertOpts() river.InsertOpts  { return stageExportDeliver.opts() }
func (DequeueArgs) Kind() string                        { return "dmfpipe.dequeue" }
func (DequeueArgs) InsertOpts() river.InsertOpts        { return stageDequeue.opts() }
func (ExportFinalizeArgs) Kind() string                 { return "dmfpipe.export_finalize" }
func (ExportFinalizeArgs) InsertOpts() river.InsertOpts { return stageExportFinalize.opts() }
func (ExportNotifyArgs) Kind() string                   { return "dmfpipe.export_notify" }
func (ExportNotifyArgs) InsertOpts() river.InsertOpts   { return stageExportNotify.opts() }

// exportKinds are the River kinds of the export stages, by step.
var exportKinds = map[exports.StepKind]string{
	exports.StepRequest:  ExportRequestArgs{}.Kind(),
	exports.StepPoll:     ExportPollArgs{}.Kind(),
	exports.StepDeliver:  ExportDeliverArgs{}.Kind(),
	exports.StepDequeue:  DequeueArgs{}.Kind(),
	exports.StepFinalize: ExportFinalizeArgs{}.Kind(),
	exports.StepNotify:   ExportNotifyArgs{}.Kind(),
}

// exportStepOfKind is the export step a River job kind runs, if it is one.
func exportStepOfKind(kind string) (exports.StepKind, bool) {
	for step, k := range exportKinds {
		if k == kind {
			return step, true
		}
	}
	return "", false
}

// addExportWorkers registers the export stages' workers.
func addExportWorkers(workers *river.Workers, ex *exports.Stages) {
	river.AddWorker(workers, &step[ExportRequestArgs]{stage: stageExportRequest,
		run: func(ctx context.Context, at imports.Attempt, a ExportRequestArgs) error {
			return ex.Request(ctx, at, a.JobID)
		}})
	river.AddWorker(workers, &step[ExportPollArgs]{stage: stageExportPoll,
		run: func(ctx context.Context, at imports.Attempt, a ExportPollArgs) error {
			return ex.Poll(ctx, at, a.JobID)
		}})
	river.AddWorker(workers, &step[ExportDeliverArgs]{stage: stageExportDeliver,
		run: func(ctx context.Context, at imports.Attempt, a ExportDeliverArgs) error {
			return ex.Deliver(ctx, at, a.JobID, a.Unit)
		}})
	river.AddWorker(workers, &step[DequeueArgs]{stage: stageDequeue,
		run: func(ctx context.Context, at imports.Attempt, a DequeueArgs) error {
			return ex.Dequeue(ctx, at, a.JobID, a.Seq)
		}})
	river.AddWorker(workers, &step[ExportFinalizeArgs]{stage: stageExportFinalize,
		run: func(ctx context.Context, _ imports.Attempt, a ExportFinalizeArgs) error {
			return ex.Finalize(ctx, a.JobID)
		}})
	river.AddWorker(workers, &step[ExportNotifyArgs]{stage: stageExportNotify,
		run: func(ctx context.Context, at imports.Attempt, a ExportNotifyArgs) error {
			return ex.Notify(ctx, at, a.JobID)
		}})
}

// exportQueues are the export queues a node works: a foreground export's for project
// foreground, else the cluster's.
func exportQueues(foreground string) map[string]river.QueueConfig {
	qs := map[string]river.QueueConfig{}
	for q, n := range exportWorkers {
		qs[exportQueueOf(q, foreground)] = river.QueueConfig{MaxWorkers: n}
	}
	return qs
}

// exportQueueOf is an export queue: the cluster's, or project foreground's own (see
// queueOf; notifications share the import stages' queue).
func exportQueueOf(queue, foreground string) string {
	return queueOf(imports.StepKind(queue), foreground)
}

// discover routes a tick of the scheduler: an export project's to the export stages,
// any other to the import stages' discover (which also leaves the tick of a project this
// node does not know to a node that does).
func (w *Worker) discover(ctx context.Context, a scheduler.DiscoverArgs) error {
	for _, p := range w.cfg.Projects {
		if p.Name == a.Project && p.Kind == "export" {
			return w.exports.Fire(ctx, a, w.sched)
		}
	}
	return w.stages.Discover(ctx, a, w.sched)
}

// riverExportSteps runs the export stages' steps as River jobs (exports.Steps).
type riverExportSteps struct{ w *Worker }

func (r *riverExportSteps) args(s exports.Step) (river.JobArgs, *river.InsertOpts, error) {
	var args river.JobArgs
	switch s.Kind {
	case exports.StepRequest:
		args = ExportRequestArgs{JobID: s.Job.ID}
	case exports.StepPoll:
		args = ExportPollArgs{JobID: s.Job.ID}
	case exports.StepDeliver:
		args = ExportDeliverArgs{JobID: s.Job.ID, Unit: s.Unit}
	case exports.StepDequeue:
		args = DequeueArgs{JobID: s.Job.ID, Seq: s.Seq}
	case exports.StepFinalize:
		args = ExportFinalizeArgs{JobID: s.Job.ID}
	case exports.StepNotify:
		args = ExportNotifyArgs{JobID: s.Job.ID}
	default:
		return nil, nil, fmt.Errorf("no runner for an export %q step", s.Kind)
	}
	opts := args.(river.JobArgsWithInsertOpts).InsertOpts()
	if s.Job.Foreground {
		opts.Queue = exportQueueOf(opts.Queue, s.Job.Project)
	}
	return args, &opts, nil
}

func (r *riverExportSteps) Insert(ctx context.Context, tx pgx.Tx, steps ...exports.Step) error {
	return insertSteps(ctx, r.w.client, tx, steps, r.args, func(s exports.Step) (string, int64) { return string(s.Kind), s.Job.ID })
}

func (r *riverExportSteps) Offer(ctx context.Context, s exports.Step) (bool, error) {
	return offerStep(ctx, r.w.client, s, r.args)
}

func (r *riverExportSteps) Name(kind exports.StepKind) string { return exportKinds[kind] }

// Hurry makes the waiting River jobs of the export stages of jobs available now.
func (r *riverExportSteps) Hurry(ctx context.Context, jobs []int64) error {
	return r.w.hurry(ctx, slices.Sorted(maps.Values(exportKinds)), jobs, nil)
}

var _ exports.Steps = (*riverExportSteps)(nil)
