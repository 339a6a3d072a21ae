-- The console's login sessions, as github.com/alexedwards/scs/pgxstore keeps them: the
-- token is the session cookie's value, data the session's values (who signed in), expiry
-- when it ends. Every serve node reads the same table, so a user stays signed in whichever
-- node answers; expired rows are deleted by the store's cleanup every 5 minutes.

-- +goose Up
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
