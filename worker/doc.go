// Package worker runs dmfpipe's import stages as River jobs: it owns the River client
// (queues, workers, timeouts, retries, the scheduler's periodic jobs) and wires the
// packages that hold the logic together. Each worker is a thin adapter:
//
//	discover  (scheduler.DiscoverArgs)  list the source; take each stable, new file:
//	                                    ledger entry + jobs row + ingest job in one transaction
//	ingest    (IngestArgs)              read → map → validate → COPY (ingestjob.Stage), the
//	                                    content hash against the ledger (a duplicate is skipped
//	                                    and archived), the error-rate decision, the chunk plan
//	                                    and one upload job per chunk
//	upload    (UploadArgs)              package streamed from staging, blob, ImportFromPackage
//	                                    under a cluster-wide lock per definition group (lane)
//	poll      (PollArgs)                execution status, snoozing between polls; F&O's errors
//	                                    onto the chunk's rows; the finalize after the last chunk
//	finalize  (FinalizeArgs)            job status and counts, file to archive / errors folder
//	notify    (NotifyArgs)              the notification, retried on its own
//	bulk      (BulkArgs)                an operator's action over many staged rows, a batch
//	                                    at a time with its progress (imports.Stages.Bulk)
//
// Finalize and notify run once per attempt of a job (a job sent again by its operators
// ends again); cancelling a job cancels its River jobs (riverSteps.Cancel, River's
// JobCancel) and a retry of a running job makes its waiting ones runnable (JobRetry).
//
// and the export stages (package exports, exports.go), on the queues export and
// export_poll:
//
//	export_request  (ExportRequestArgs)   ExportToPackage(Async) under a recorded execution id
//	export_poll     (ExportPollArgs)      the export's status, snoozing between polls
//	export_deliver  (ExportDeliverArgs)   a package (an execution's, or a recurring message's
//	                                      by CorrelationId) downloaded and written out; a
//	                                      message acknowledged after its files are durable
//	dequeue         (DequeueArgs)         the next message of a recurring export, one at a time
//	export_finalize (ExportFinalizeArgs)  the job's status, then export_notify
//
// A tick of the scheduler (scheduler.DiscoverArgs) of an export project starts an export
// job instead of a discover (Worker.discover).
//
// Idempotency: every stage may run again after a crash. A chunk's execution id is
// <project>-<job>-<chunk>-<attempt> and is recorded (dmf_executions) before
// ImportFromPackage is called; an upload that finds its execution recorded asks F&O
// before sending anything again. Row statuses move valid → uploaded → imported or
// rejected, and a stage's database changes commit together with the next stage's job.
//
// Crashes: River has no heartbeat, so a job whose process died stays running until its
// rescue window (hours) passes. Each Worker holds a session advisory lock keyed on its
// River client ID (Deps.ID, by default host-pid-random) on a connection of its own while
// its client runs; every node, at Start and every Deps.ReclaimInterval, takes back at once
// the running jobs whose owner's lock is free, as River's rescuer would (reclaim.go). A
// node that loses its own lock connection stops working (Lost). An upload that finds its
// execution still running in F&O after a crash waits for it before anything else of its
// definition group is sent.
//
// Stage timeouts are sized for bulk work (an ingest may take hours) and River's rescue
// window is longer than the longest one. Errors that retrying cannot fix cancel the River
// job after recording the failure on the import job; others are retried with backoff.
package worker
