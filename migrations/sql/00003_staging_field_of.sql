-- The source column each mapped value is read from, so that a source value the mapping
-- left unchanged is stored once, whatever the order of the columns and of the fields.

-- +goose Up
-- The n-th element is the index (from 0) in fields of the value mapped from the n-th
-- column of columns, -1 when no field is; NULL (a job staged before) pairs each column
-- with the field at the same position.
ALTER TABLE staging_jobs ADD COLUMN field_of integer[];

-- +goose Down
ALTER TABLE staging_jobs DROP COLUMN field_of;
