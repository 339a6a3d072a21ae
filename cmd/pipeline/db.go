package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

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

// openPool connects to the database named by the flags.
func (f *dbFlags) openPool(ctx context.Context) (*pgxpool.Pool, error) {
	url := f.url
	maxConns := config.DefaultMaxConns
	if url == "" {
		cfg, err := loadConfig(f.configPath)
		if err != nil {
			return nil, err
		}
		url = cfg.Database.URL.Value()
		maxConns = cfg.Database.MaxConns
	}
	if url == "" {
		return nil, usageError(errors.New("no database: set database.url in the config or pass --database-url"))
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can echo the URL, password included: say only what is wrong.
		return nil, usageError(errors.New("database url is not a valid Postgres URL or keyword/value string"))
	}
	pc.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to the database at %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	return pool, nil
}
