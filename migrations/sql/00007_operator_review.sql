-- Operator review: what operators do to a job's staged rows (fix, set aside, send again)
-- and the trail of who did it. Rows keep their errors once fixed (resolved), so that a
-- row shows what was wrong with it; the queue and the error groups are the unresolved
-- ones. A job can be sent again as a new attempt (new chunks of the same job).

-- +goose Up
-- An error an operator dealt with (the row was edited, or set aside) or that a later
-- attempt replaced. Each partition indexes (field, rule, row_no) WHERE NOT resolved (see
-- staging/store.go); partitions made before this migration keep their full index.
ALTER TABLE staging_errors ADD COLUMN resolved boolean NOT NULL DEFAULT false;

-- Why an operator set a row aside (status skipped).
ALTER TABLE staging_rows ADD COLUMN reason text;
-- The job attempt that last sent the row to F&O, NULL for the first.
ALTER TABLE staging_rows ADD COLUMN attempt integer;

-- The rows with an unresolved error per job, field and rule, kept by the staging package
-- as errors come and go: a live GROUP BY over 300k errors costs 190 ms (measured), a
-- read of this table well under one.
CREATE TABLE staging_error_groups (
    job_id bigint NOT NULL,
    field  text NOT NULL,
    rule   text NOT NULL,
    rows   bigint NOT NULL,
    PRIMARY KEY (job_id, field, rule)
);
INSERT INTO staging_error_groups (job_id, field, rule, rows)
SELECT job_id, field, rule, count(DISTINCT row_no) FROM staging_errors GROUP BY job_id, field, rule;

-- The job's current attempt: 1 for the first run, then one more per resubmission or
-- retry. Steps that run once per job (finalize, notify) run once per attempt.
ALTER TABLE jobs ADD COLUMN attempt integer NOT NULL DEFAULT 1;
-- Rows an operator set aside (staging status skipped).
ALTER TABLE jobs ADD COLUMN rows_skipped bigint NOT NULL DEFAULT 0;

-- The attempts after the first: when, by whom and why a job was sent again, and which
-- chunks it added.
CREATE TABLE job_attempts (
    job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    -- resubmit (fixed rows) or retry (rows F&O never gave a verdict on)
    trigger     text NOT NULL,
    actor       text NOT NULL,
    first_chunk integer NOT NULL,
    chunks      integer NOT NULL,
    rows        bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, attempt)
);

-- The audit trail of operators' actions on a job: one entry per action (a bulk action
-- is one entry with its selection and count), with the rows it changed in audit_rows.
CREATE TABLE audit_entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL CHECK (action IN ('edit', 'reject', 'resubmit', 'retry', 'cancel')),
    -- which rows the action was for (staging.Filter as JSON), NULL for a whole job
    selection   jsonb,
    -- the values an edit set, {"FIELD": "value"}
    set_values  jsonb,
    reason      text,
    -- rows that matched when the action started, and rows it changed so far
    matched     bigint NOT NULL DEFAULT 0,
    rows        bigint NOT NULL DEFAULT 0,
    -- running while a bulk action works through its batches
    state       text NOT NULL DEFAULT 'done' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    -- the last row number a bulk action has dealt with: a step run again goes on after it
    last_row    bigint NOT NULL DEFAULT 0,
    error       text,
    attrs       jsonb,
    finished_at timestamptz
);
CREATE INDEX audit_entries_job_idx ON audit_entries (job_id, id);

-- What an entry did to each row: the values it replaced (only those that changed) and
-- the row's status before and after.
CREATE TABLE audit_rows (
    entry_id    bigint NOT NULL REFERENCES audit_entries (id) ON DELETE CASCADE,
    job_id      bigint NOT NULL,
    row_no      bigint NOT NULL,
    before      jsonb,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (entry_id, row_no)
);
CREATE INDEX audit_rows_row_idx ON audit_rows (job_id, row_no, entry_id);

-- +goose Down
DROP TABLE audit_rows;
DROP TABLE audit_entries;
DROP TABLE job_attempts;
ALTER TABLE jobs DROP COLUMN rows_skipped;
ALTER TABLE jobs DROP COLUMN attempt;
DROP TABLE staging_error_groups;
ALTER TABLE staging_rows DROP COLUMN attempt;
ALTER TABLE staging_rows DROP COLUMN reason;
ALTER TABLE staging_errors DROP COLUMN resolved;
