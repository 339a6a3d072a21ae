package main

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
)

// dbFlags locates the database: the config's database.url, or --database-url.
type dbFlags struct {
	configPath string
	url        string
}

func (f *dbFlags) register(cmd *cobra.Command) {
	addConfigFlag(cmd, &f.configPath)
	cmd.Flags().StringVar(&f.url, "database-url", "", "Postgres URL; overrides database.url of the config")
}

// openPool connects to the database named by the flags, reading the config only when
// --database-url is not given.
func (f *dbFlags) openPool(ctx context.Context) (*pgxpool.Pool, error) {
	if f.url != "" {
		return dbError(app.OpenDB(ctx, f.url, config.DefaultMaxConns))
	}
	a, err := loadApp(f.configPath, app.Options{})
	if err != nil {
		return nil, err
	}
	return f.openAppPool(ctx, a)
}

// openAppPool connects to the database of a's config, or of --database-url.
func (f *dbFlags) openAppPool(ctx context.Context, a *app.App) (*pgxpool.Pool, error) {
	return dbError(a.OpenDB(ctx, f.url))
}

// dbError marks the database problems that are the user's to fix as usage errors.
func dbError(pool *pgxpool.Pool, err error) (*pgxpool.Pool, error) {
	if errors.Is(err, app.ErrNoDatabase) || errors.Is(err, app.ErrBadDatabaseURL) {
		return nil, usageError(err)
	}
	return pool, err
}
