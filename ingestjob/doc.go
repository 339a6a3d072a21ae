// Package ingestjob runs the ingest, validate and decide stages of an import job: it
// streams a file's records through the project's mapping and row rules into the job's
// staging area, runs the set rules (unique, lookup) over the staged rows, and decides
// with on_errors.max_error_rate whether the job may go on to upload.
//
// It wires the pure packages (mapping, validate) to staging and holds no rule of its
// own: the CLI's `run` and the workers call it the same way.
package ingestjob
