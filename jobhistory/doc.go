// Package jobhistory is the audit trail of every run and the store of the idempotency keys
// of its external side effects, in the tables of migration 00001 (source_files, jobs,
// chunks, dmf_executions, job_events), of the file sightings that a file's stability
// wait is measured from (file_sightings, migration 00005), and of operators' actions and
// a job's later attempts (audit_entries, audit_rows, job_attempts, migration 00007).
//
// # The file ledger
//
// Ledger records each source file a project takes (table source_files): where it came
// from, the version taken (size, modification time, ETag), the SHA-256 of its content
// computed while it was read, and how its job ended. Two questions are answered from it:
//
//   - Was this version of this file already taken? (FindTaken) A file left in place after
//     its import, when a project has no archive folder, is then not taken again at every
//     discovery; a file re-uploaded under the same name is a new version and is taken.
//   - Was this content already imported by the project, under any name? (SetHash,
//     FindImported) Content counts as imported when a file with it ended imported or
//     partial, or is still being taken: a file whose earlier twin failed may be imported
//     again. A duplicate is skipped unless its file was taken with force.
//
// The duplicate check is made in SetHash, in one transaction under an advisory lock per
// (project, content hash), so that two files with the same content taken at once by two
// nodes end as one import and one duplicate, never two imports and never two duplicates.
//
// A file whose job died without an outcome stays "taken" and keeps counting as imported
// until its job is resumed and finishes (or is failed by whoever reclaims it).
//
// # File sightings
//
// Sightings is the ingest.SightingStore of every node: per (project, connection, file) the
// version last listed (size, modification time to the nanosecond, ETag) and when that
// version was first seen, so that an ingest.Watcher on any node finishes a min_age wait
// another node started, and a restart does not start it again. A file that leaves the
// listing is deleted.
//
// The times are the database's (statement_timestamp(), read in each Update): first-seen
// times written by one node are compared with the clock of the node that lists next, and
// the nodes' clocks differ, the database's is one. Each Update reads, decides (with
// ingest.Settle) and writes in one transaction under an advisory lock per (project,
// connection), so concurrent discovers of one project, on any nodes, run one after the
// other and never lose or mix each other's sightings; it writes only the rows that change.
//
// # Jobs, chunks, executions, events
//
// Store keeps the rest of the trail: a job's row (trigger, cron tick, stage, status, counts
// per stage, error, times), its chunks (the row ranges cut for upload, their lane, status
// and upload attempt), the DMF executions sent for them (recorded before the call, so a
// crash after sending is asked about, never re-sent blindly; then submitted, polled,
// finished) and the job's event timeline. It records; the worker package decides what
// runs next.
//
// # Attempts and the audit trail
//
// A job whose rows operators fixed is sent again as a new attempt (attempts.go): new
// chunks after its others, one row in job_attempts, the job running again. Every
// operator's action is an entry of the job's audit trail (audit.go, migration 00007):
// who, when, what (the selection and values of an edit or rejection, its count, and per
// row the values it replaced and the row's status before and after), readable per job
// and per row.
//
// # Exports and recurring integrations
//
// The tables of migration 00006: export_files (every file an export committed under its
// final name, with its rows, bytes and SHA-256), recurring_messages (a recurring export's
// messages by environment, activity and CorrelationId, recorded with their dequeue body
// before anything is downloaded: written, acked, without a file, failed) and
// enqueued_messages (the message F&O answered a recurring import's enqueue with, by the
// chunk's execution row).
//
// All methods run on a DBTX: a pool, a connection or a transaction.
package jobhistory
