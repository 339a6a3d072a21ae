package jobstep

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/config"
)

// Config is what a Base works with; the stage packages fill it from their Deps, with
// their defaults applied.
type Config struct {
	// DB is the database of job history.
	DB *pgxpool.Pool
	// Environments are the configured F&O environments (their poll schedules).
	Environments map[string]*config.Environment
	// Node is this node's ID: events name it.
	Node string
	// Foreground is true for a foreground command, which works its own jobs.
	Foreground bool
	// NodeFresh is how recently a node must have been seen to count as live.
	NodeFresh time.Duration
	// Log receives what is logged rather than recorded.
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time
}
