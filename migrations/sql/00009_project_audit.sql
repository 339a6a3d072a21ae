-- The projects' audit trail: who paused, resumed or ran a project now, from the console or
-- the CLI (jobs have theirs in audit_entries, migration 00007). The console's projects
-- page shows each project's latest entries.

-- +goose Up
CREATE TABLE project_audit (
    id      bigserial PRIMARY KEY,
    project text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL CHECK (action IN ('pause', 'resume', 'run_now')),
    -- what the action started, as {"river_job": N} for a run now
    attrs   jsonb
);
CREATE INDEX project_audit_project_idx ON project_audit (project, id);

-- +goose Down
DROP TABLE project_audit;
