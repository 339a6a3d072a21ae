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
// The console's queries (Counts, ErrorSummary, RowPage and ErrorPage over a Filter,
// Row, Layout.Cells, the error reports as CSV and XLSX) page by row number so that they
// stay fast on a million-row job: on a job of 1M rows and 300k errors the error groups
// answer in 0.2 ms, a page of one group's errors at row 900k in 0.9 ms, a page of the
// queue in 0.7 ms (BenchmarkReviewQueries).
//
// Operators act on a job's open rows (OpenStatuses: invalid, rejected, fixed) a batch at
// a time (review.go): EditBatch sets values and re-validates each row (fixed, or invalid
// with its new errors), RejectBatch sets rows aside with a reason (skipped). A row's
// errors are kept when it is fixed or set aside, marked resolved: the row shows what was
// wrong, while the queue, the error groups (kept per job in staging_error_groups, see
// groups.go) and the reports hold the open errors only. StartAttempt readies the rows a
// new attempt of the job sends (fixed ones, or those F&O gave no verdict on), and marks
// them with the attempt, so that a later chunk's package holds its own rows only
// (EachAttemptRow).
//
// Layout (migrations/sql/00002_staging.sql): each job has its own partition of
// staging_rows and of staging_errors, so that purging a job is a detach and a DROP
// TABLE, never a DELETE. A row keeps its mapped values in one text column joined by
// U+001F and its source values as a JSON array in which null means "same as the mapped
// value": one datum per column costs COPY far less than a text[] (or jsonb) would.
package staging
