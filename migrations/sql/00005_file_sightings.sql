-- File sightings: when each version of a project's listed source files was first seen, so
-- that a file's stability wait (source.min_age) survives restarts and is finished by
-- whichever node lists the project next (see ingest.Settle and jobhistory.Sightings).

-- +goose Up
-- One row per file of a project's last listing of a connection; a file that leaves the
-- listing is deleted, a changed one gets a new version and first_seen.
CREATE TABLE file_sightings (
    project        text NOT NULL,
    connection     text NOT NULL,
    path           text NOT NULL,
    size           bigint NOT NULL,
    -- the modification time to the microsecond, NULL when the backend reports none, and
    -- the nanoseconds below it (local folders report them), so that a version read back
    -- is the version listed
    modified_at    timestamptz,
    modified_nanos smallint NOT NULL DEFAULT 0 CHECK (modified_nanos BETWEEN 0 AND 999),
    etag           text,
    -- when this version was first listed, by the database's clock (one clock for every
    -- node)
    first_seen     timestamptz NOT NULL,
    PRIMARY KEY (project, connection, path)
);

-- +goose Down
DROP TABLE file_sightings;
