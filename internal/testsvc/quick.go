package testsvc

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/dmf"
)

// Log is a logger for a test's output, at warn level: what a component under test says
// only when something is wrong.
func Log(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// QuickRiver tunes a River client for tests: it fetches every 10-50 ms instead of every
// second, and runs in River's test mode.
func QuickRiver(c *river.Config) {
	c.FetchCooldown = 10 * time.Millisecond
	c.FetchPollInterval = 50 * time.Millisecond
	c.TestOnly = true
}

// QuickDMF returns the DMF client options of a test's composition root (app.Options'
// DMFOptions): retries back off from 5 ms up to 50 ms instead of seconds, then tune
// adjusts them (nil for nothing more).
func QuickDMF(tune func(*dmf.Options)) func(env string, o *dmf.Options) {
	return func(_ string, o *dmf.Options) {
		o.RetryBackoff, o.RetryBackoffMax = 5*time.Millisecond, 50*time.Millisecond
		if tune != nil {
			tune(o)
		}
	}
}

// Server is what Serve runs: a worker, a River client.
type Server interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Serve starts s on the test's context and stops it, within 10 seconds, when the test
// ends; an error either way fails the test.
func Serve(t testing.TB, s Server) {
	t.Helper()
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("starting %T: %v", s, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stopping %T: %v", s, err)
		}
	})
}
