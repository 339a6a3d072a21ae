-- Staging: every row of every import job, good or bad, as mapped (and as read where that
-- differs), with its errors, for operators to query, fix and resubmit from.
--
-- Both tables are partitioned by job: the staging package attaches a job's partitions when
-- the job starts and purges a job by detaching (CONCURRENTLY) and dropping them, never with
-- DELETE. The parents hold no rows and no indexes; each partition has its own (see
-- staging/store.go).

-- +goose Up
CREATE TABLE staging_jobs (
    job_id     bigint PRIMARY KEY,
    -- the entity fields, in the order of staging_rows.vals
    fields     text[] NOT NULL,
    -- the source columns (the file's header), in the order of staging_rows.raw
    columns    text[] NOT NULL,
    -- the XLSX sheet read, empty for text formats
    sheet      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- set when the job's rows were copied in full; a job without it never finished staging
    loaded_at  timestamptz
);

CREATE TABLE staging_rows (
    job_id bigint NOT NULL,
    -- 1-based data row number within the job
    row_no bigint NOT NULL,
    -- where the record starts in the source file (the sheet row for XLSX)
    line   bigint NOT NULL,
    -- valid, invalid, uploaded, imported, rejected (by F&O), fixed, skipped
    status text NOT NULL,
    -- the mapped values, one per staging_jobs.fields, joined by U+001F (which the staging
    -- package keeps out of values): one datum costs COPY far less than a text[].
    -- split_part(vals, E'\x1f', n) is the n-th value, string_to_array(vals, E'\x1f') all.
    vals   text NOT NULL,
    -- the source values, one per staging_jobs.columns, where they differ from vals; NULL
    -- when none does. Joined by U+001F, an empty element standing for the value of vals at
    -- that position and U+001E alone for an empty value; a JSON array of strings (null for
    -- the value of vals) when a value holds U+001E or U+001F or the text would start with
    -- '['. Not a second text[]: array input costs COPY a call per element, and the source
    -- values are only ever read whole (staging/copy.go reads both forms)
    raw    text
) PARTITION BY LIST (job_id);

CREATE TABLE staging_errors (
    job_id  bigint NOT NULL,
    row_no  bigint NOT NULL,
    field   text NOT NULL DEFAULT '',
    rule    text NOT NULL,
    -- the source column, when one applies
    col     text NOT NULL DEFAULT '',
    message text NOT NULL
) PARTITION BY LIST (job_id);

-- +goose Down
DROP TABLE staging_errors;
DROP TABLE staging_rows;
DROP TABLE staging_jobs;
