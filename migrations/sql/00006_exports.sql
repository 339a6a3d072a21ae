-- Exports and recurring integrations: the files an export wrote, the recurring export
-- messages by CorrelationId (recorded before their file is downloaded, so a redelivered
-- message or a crash between the write and the ack never writes a file twice), and the
-- messages a recurring import enqueued.

-- +goose Up
-- One row per file an export job committed to its destination: the data files of each
-- entity (a part each when split), the copy of the raw package, the manifest. A file is
-- recorded once it is under its final name; one being written has no row (it exists only
-- under its temporary name).
CREATE TABLE export_files (
    job_id     bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- the package the file comes from: the execution id of a package export, the
    -- CorrelationId of a recurring message
    unit       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('data', 'raw', 'manifest')),
    entity     text NOT NULL DEFAULT '',
    part       integer NOT NULL DEFAULT 0,
    connection text NOT NULL,
    path       text NOT NULL,
    rows       bigint NOT NULL DEFAULT 0,
    bytes      bigint NOT NULL DEFAULT 0,
    sha256     bytea NOT NULL CHECK (octet_length(sha256) = 32),
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, unit, path)
);

-- Recurring export messages, one per (environment, activity, CorrelationId): F&O hands an
-- unacknowledged message out again after 30 minutes, and the row tells whether its file
-- was already written. The dequeue body is kept exactly as received: the ack sends it
-- back, and it is replaced by the body of a later dequeue of the same message (its
-- PopReceipt changes).
CREATE TABLE recurring_messages (
    environment       text NOT NULL,
    -- the activity id in lower case, without braces
    activity          text NOT NULL,
    correlation_id    text NOT NULL,
    project           text NOT NULL,
    -- the job that delivers (or delivered) the message, and its place in that job
    job_id            bigint REFERENCES jobs (id) ON DELETE SET NULL,
    seq               integer NOT NULL DEFAULT 0,
    -- dequeued: recorded, its file not yet written; written: its files are durable at
    -- the destination, the ack is due; acked: done; no_file: a dequeue without a download
    -- location, acked as the project says; skipped: such a message left unacknowledged;
    -- failed: its file could not be delivered (it is not acked, F&O hands it out again)
    status            text NOT NULL CHECK (status IN ('dequeued', 'written', 'acked', 'no_file', 'skipped', 'failed')),
    dequeue_body      bytea NOT NULL,
    download_location text NOT NULL DEFAULT '',
    dequeues          integer NOT NULL DEFAULT 1,
    ack_attempts      integer NOT NULL DEFAULT 0,
    rows              bigint NOT NULL DEFAULT 0,
    files             integer NOT NULL DEFAULT 0,
    error             text,
    first_dequeued_at timestamptz NOT NULL DEFAULT now(),
    last_dequeued_at  timestamptz NOT NULL DEFAULT now(),
    written_at        timestamptz,
    acked_at          timestamptz,
    PRIMARY KEY (environment, activity, correlation_id)
);
CREATE INDEX recurring_messages_job_idx ON recurring_messages (job_id, seq);

-- The recurring import messages: one per enqueue of a chunk (its execution row, recorded
-- before the enqueue is sent, is the chunk's; F&O answers the message id).
CREATE TABLE enqueued_messages (
    execution_id    text PRIMARY KEY REFERENCES dmf_executions (execution_id) ON DELETE CASCADE,
    message_id      text NOT NULL UNIQUE,
    activity        text NOT NULL,
    external_id     text NOT NULL,
    bytes           bigint NOT NULL DEFAULT 0,
    -- the execution F&O ran the message in (GetExecutionIdByMessageId), once known
    fo_execution_id text,
    enqueued_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE enqueued_messages;
DROP TABLE recurring_messages;
DROP TABLE export_files;
