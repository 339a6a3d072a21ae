// Package dbtx names what the stores need of a database handle, so that each store works
// on a pool, a connection or a transaction alike.
package dbtx

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is a database handle: *pgxpool.Pool, *pgx.Conn and pgx.Tx all have it (Begin on a
// transaction makes a savepoint).
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}
