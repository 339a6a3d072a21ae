-- What the centre of the pipeline needs to run safely on several nodes and installations:
-- which node did what, which nodes are alive and what projects they know, the version of a
-- project a job was started with, and an execution-id part that never repeats across
-- databases.

-- +goose Up
-- The version (a fingerprint of the project's configuration) a job was started with: a
-- node runs a job's steps only with the project as the job knows it, unless no live node
-- has that version any more.
ALTER TABLE jobs ADD COLUMN project_version text NOT NULL DEFAULT '';
-- Part of every DMF execution id of the job, random per job: a restored or re-created
-- database, or a second installation, numbers its jobs anew, and F&O must never see an
-- execution id twice. Jobs made before this migration keep '' (their ids are already in
-- F&O without it).
ALTER TABLE jobs ADD COLUMN execution_nonce text NOT NULL DEFAULT '';
ALTER TABLE jobs ALTER COLUMN execution_nonce SET DEFAULT substr(replace(gen_random_uuid()::text, '-', ''), 1, 8);
-- A job started by a foreground `pipeline run`: its steps go to that run's queues, so that
-- the run works them itself (serve nodes, which may not know its project or reach its
-- local files, leave them alone); an interrupted one resumes at the next run.
ALTER TABLE jobs ADD COLUMN foreground boolean NOT NULL DEFAULT false;
-- A dry run stages and validates only; nothing of it goes to F&O.
ALTER TABLE jobs ADD COLUMN dry_run boolean NOT NULL DEFAULT false;
-- Valid rows whose chunk ended without F&O importing them (staging status not_imported).
ALTER TABLE jobs ADD COLUMN rows_not_imported bigint NOT NULL DEFAULT 0;

-- When an execution was recorded as about to be sent: an execution F&O holds without an
-- answer (its sender died) counts its poll deadline from here.
ALTER TABLE dmf_executions ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();

-- Who recorded an event: the node that ran the step, or the operator who acted.
ALTER TABLE job_events ADD COLUMN actor text NOT NULL DEFAULT '';

-- The live nodes (River clients) and the projects each knows, by name and version. A row
-- is written when a node starts, refreshed while it runs and deleted when it stops; the
-- row of a node that died is deleted by the next node that finds its liveness lock free.
CREATE TABLE nodes (
    id         text PRIMARY KEY,
    host       text NOT NULL DEFAULT '',
    pid        integer NOT NULL DEFAULT 0,
    -- true for a foreground `pipeline run`, which works only its own jobs
    foreground boolean NOT NULL DEFAULT false,
    -- {"<project>": "<version>", ...}
    projects   jsonb NOT NULL DEFAULT '{}',
    -- the schedules of the node's scheduled projects: {"<project>": {"cron": "...",
    -- "timezone": "..."}}, so that the elected leader fires the ticks of projects its own
    -- configuration lacks
    schedules  jsonb NOT NULL DEFAULT '{}',
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE nodes;
ALTER TABLE dmf_executions DROP COLUMN recorded_at;
ALTER TABLE job_events DROP COLUMN actor;
ALTER TABLE jobs DROP COLUMN rows_not_imported;
ALTER TABLE jobs DROP COLUMN dry_run;
ALTER TABLE jobs DROP COLUMN foreground;
ALTER TABLE jobs DROP COLUMN execution_nonce;
ALTER TABLE jobs DROP COLUMN project_version;
