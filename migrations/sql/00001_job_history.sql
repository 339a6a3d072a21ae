-- Job history: the audit trail of every run and the idempotency keys of every external
-- side effect (the file ledger's content hashes, the deterministic DMF execution ids).

-- +goose Up
CREATE TABLE projects (
    name       text PRIMARY KEY,
    paused     boolean NOT NULL DEFAULT false,
    paused_by  text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The file ledger: one row per source file a project has taken (or skipped), with the
-- SHA-256 of its content computed while it was read.
CREATE TABLE source_files (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project        text NOT NULL,
    connection     text NOT NULL,
    path           text NOT NULL,
    size           bigint NOT NULL,
    modified_at    timestamptz,
    etag           text,
    content_sha256 bytea CHECK (content_sha256 IS NULL OR octet_length(content_sha256) = 32),
    -- taken: a job is reading it; imported / partial / failed: how its job ended;
    -- duplicate: skipped because its content was already imported
    outcome        text NOT NULL DEFAULT 'taken'
                   CHECK (outcome IN ('taken', 'imported', 'partial', 'failed', 'duplicate')),
    forced         boolean NOT NULL DEFAULT false,
    duplicate_of   bigint REFERENCES source_files (id),
    moved_to       text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX source_files_hash_idx ON source_files (project, content_sha256);
CREATE INDEX source_files_path_idx ON source_files (project, connection, path);

CREATE TABLE jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('import', 'export')),
    -- schedule, run (CLI), run_now (console), resubmit, retry
    trigger       text NOT NULL,
    -- the cron fire time of a scheduled job: with the project, the key that makes a tick
    -- fire once across a cluster
    scheduled_for timestamptz,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'partially_succeeded',
                                    'failed', 'canceled', 'skipped')),
    stage         text NOT NULL DEFAULT 'discover',
    source_file_id bigint REFERENCES source_files (id),
    environment   text,
    legal_entity  text,
    rows_read     bigint NOT NULL DEFAULT 0,
    rows_staged   bigint NOT NULL DEFAULT 0,
    rows_invalid  bigint NOT NULL DEFAULT 0,
    rows_uploaded bigint NOT NULL DEFAULT 0,
    rows_imported bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    chunks_total  integer NOT NULL DEFAULT 0,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX jobs_schedule_tick_idx ON jobs (project, scheduled_for) WHERE scheduled_for IS NOT NULL;
CREATE INDEX jobs_project_created_idx ON jobs (project, created_at DESC);
CREATE INDEX jobs_status_idx ON jobs (status) WHERE status IN ('queued', 'running');

-- A chunk is a slice of a job's valid staging rows that becomes one DMF package.
CREATE TABLE chunks (
    job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    chunk_no    integer NOT NULL,
    lane        integer NOT NULL DEFAULT 1,
    first_row   bigint NOT NULL,
    last_row    bigint NOT NULL,
    row_count   integer NOT NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'uploading', 'importing', 'succeeded',
                                  'partially_succeeded', 'failed', 'canceled')),
    attempts    integer NOT NULL DEFAULT 0,
    error       text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, chunk_no)
);

-- Every DMF execution sent to F&O. The id is deterministic
-- (<project>-<job>-<chunk>-<attempt>), so a crashed upload is looked up, never re-sent.
CREATE TABLE dmf_executions (
    execution_id     text PRIMARY KEY,
    job_id           bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    chunk_no         integer,
    attempt          integer NOT NULL DEFAULT 1,
    environment      text NOT NULL,
    definition_group text NOT NULL,
    legal_entity     text NOT NULL,
    operation        text NOT NULL CHECK (operation IN ('import', 'export')),
    blob_id          text,
    -- the last DMFExecutionSummaryStatus seen (NotRun, Executing, Succeeded, ...)
    dmf_status       text,
    polls            integer NOT NULL DEFAULT 0,
    submitted_at     timestamptz,
    last_polled_at   timestamptz,
    finished_at      timestamptz,
    error            text
);
CREATE INDEX dmf_executions_job_idx ON dmf_executions (job_id, chunk_no);

-- The timeline of a job, for the console and for post-mortems.
CREATE TABLE job_events (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL DEFAULT now(),
    stage   text NOT NULL,
    level   text NOT NULL DEFAULT 'info' CHECK (level IN ('debug', 'info', 'warn', 'error')),
    message text NOT NULL,
    attrs   jsonb
);
CREATE INDEX job_events_job_idx ON job_events (job_id, at);

-- +goose Down
DROP TABLE job_events;
DROP TABLE dmf_executions;
DROP TABLE chunks;
DROP TABLE jobs;
DROP TABLE source_files;
DROP TABLE projects;
