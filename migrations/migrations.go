// Package migrations holds dmfpipe's SQL schema as embedded goose migrations and applies
// them together with River's own migrations.
//
// Migrations are never edited once released: a change to the schema is a new file in sql/.
// Up holds a Postgres advisory lock for its whole run, so that several nodes starting at
// once apply each migration exactly once (neither goose's provider nor rivermigrate locks
// across processes on its own).
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/dmfpipe/dmfpipe/internal/lockkey"
)

//go:embed sql/*.sql
var files embed.FS

// gooseTable is dmfpipe's version table, named so it cannot clash with another tool's.
const gooseTable = "dmfpipe_schema_version"

// Step is one applied migration.
type Step struct {
	Component string // "dmfpipe" or "river"
	Version   int64
	Name      string
}

// Up applies every pending migration, dmfpipe's and River's, under an advisory lock.
func Up(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) ([]Step, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var applied []Step
	err := withLock(ctx, pool, func() error {
		p, db, err := provider(pool)
		if err != nil {
			return err
		}
		defer db.Close()
		results, err := p.Up(ctx)
		if err != nil {
			return fmt.Errorf("applying dmfpipe migrations: %w", err)
		}
		for _, r := range results {
			applied = append(applied, Step{Component: "dmfpipe", Version: r.Source.Version, Name: path.Base(r.Source.Path)})
			log.Info("migration applied", "component", "dmfpipe", "version", r.Source.Version, "duration", r.Duration)
		}
		m, err := riverMigrator(pool)
		if err != nil {
			return err
		}
		res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err != nil {
			return fmt.Errorf("applying river migrations: %w", err)
		}
		for _, v := range res.Versions {
			applied = append(applied, Step{Component: "river", Version: int64(v.Version), Name: v.Name})
			log.Info("migration applied", "component", "river", "version", v.Version, "duration", v.Duration)
		}
		return nil
	})
	return applied, err
}

// State is one migration and whether it is applied.
type State struct {
	Step
	Applied bool
}

// Status lists every known migration, dmfpipe's then River's, and whether it is applied.
func Status(ctx context.Context, pool *pgxpool.Pool) ([]State, error) {
	p, db, err := provider(pool)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	gooseStates, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading dmfpipe migration status: %w", err)
	}
	var states []State
	for _, s := range gooseStates {
		states = append(states, State{
			Step:    Step{Component: "dmfpipe", Version: s.Source.Version, Name: path.Base(s.Source.Path)},
			Applied: s.State == goose.StateApplied,
		})
	}
	m, err := riverMigrator(pool)
	if err != nil {
		return nil, err
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading river migration status: %w", err)
	}
	done := map[int]bool{}
	for _, v := range existing {
		done[v.Version] = true
	}
	for _, v := range m.AllVersions() {
		states = append(states, State{Step: Step{Component: "river", Version: int64(v.Version), Name: v.Name}, Applied: done[v.Version]})
	}
	return states, nil
}

// Pending reports whether any migration is not applied yet.
func Pending(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	states, err := Status(ctx, pool)
	if err != nil {
		return false, err
	}
	for _, s := range states {
		if !s.Applied {
			return true, nil
		}
	}
	return false, nil
}

func provider(pool *pgxpool.Pool) (*goose.Provider, *sql.DB, error) {
	sqlFiles, err := fs.Sub(files, "sql")
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	// Out of order: features are built side by side with their migration numbers given
	// up front, and one may land after a higher-numbered one (00006, exports, after 00007);
	// a database migrated in between gets the lower one applied next, and each touches
	// only its own tables.
	p, err := goose.NewProvider(goose.DialectPostgres, db, sqlFiles,
		goose.WithTableName(gooseTable), goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("loading migrations: %w", err)
	}
	return p, db, nil
}

func riverMigrator(pool *pgxpool.Pool) (*rivermigrate.Migrator[pgx.Tx], error) {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return nil, fmt.Errorf("loading river migrations: %w", err)
	}
	return m, nil
}

// withLock runs fn while this session holds the migration advisory lock.
func withLock(ctx context.Context, pool *pgxpool.Pool, fn func() error) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connecting to the database: %w", err)
	}
	defer conn.Release()
	key := lockkey.Migrations()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+key.SQL(1)+")", key.Arg()); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must run even when ctx was canceled.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+key.SQL(1)+")", key.Arg()); uerr != nil {
			err = errors.Join(err, fmt.Errorf("releasing the migration lock: %w", uerr))
		}
	}()
	return fn()
}
