// Package staging owns the Postgres staging area: every row of an import job, valid or
// not, as mapped and as read, with its located errors, from the moment it is read until
// the job's retention ends (Purge).
//
// Rows go in through a Writer: a binary COPY that streams while the source file is still
// being read, with the errors on a second COPY. Values are cleaned on the way (NUL bytes
// and invalid UTF-8 become U+FFFD) so that no value can fail the COPY. The set rules
// that need the whole file run as SQL over the job's rows afterwards: Writer.CheckUnique
// (whose keys the Writer prefiltered while they streamed) or Store.Unique, and
// Store.Lookup. CheckErrorRate is the decide step: on_errors.max_error_rate exceeded
// means the job fails before anything is uploaded.
//
// The console's queries (Counts, ErrorSummary, Errors, Rows, Row, Edit, Reject,
// Resubmit, the error reports as CSV and XLSX) page by row number so that they stay
// fast on a million-row job.
//
// Layout (migrations/sql/00002_staging.sql): each job has its own partition of
// staging_rows and of staging_errors, so that purging a job is a detach and a DROP
// TABLE, never a DELETE. A row keeps its mapped values in one text column joined by
// U+001F and its source values as a JSON array in which null means "same as the mapped
// value": one datum per column costs COPY far less than a text[] (or jsonb) would.
package staging
