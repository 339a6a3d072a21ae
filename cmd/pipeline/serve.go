package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/console"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/internal/metrics"
	"github.com/dmfpipe/dmfpipe/migrations"
	"github.com/dmfpipe/dmfpipe/worker"
)

// serveShutdownTimeout bounds the graceful shutdown: running jobs get this long to
// finish; the others are taken up again by another node or the next start.
const serveShutdownTimeout = 30 * time.Second

func newServeCmd() *cobra.Command {
	var db dbFlags
	cmd := &cobra.Command{
		Use:   "serve -c CFG",
		Short: "Run the scheduler and the import and export workers, with health and metrics endpoints",
		Long: `serve runs every project on its schedule: the scheduler's periodic jobs, the import
workers (discover, ingest, upload, poll, finalize, notify) and an HTTP listener on
console.addr with the operator console (see console in the README: users, roles, API
tokens; River's UI at /riverui), /healthz (the process is up), /readyz (the database answers and the
workers run) and /metrics (Prometheus). Several serve processes on one database share
the work; each tick of a schedule fires once across them. SIGTERM or Ctrl-C stops it
gracefully: running jobs get 30 seconds, the rest resume on another node.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, &db) },
	}
	db.register(cmd)
	return cmd
}

func serve(cmd *cobra.Command, db *dbFlags) error {
	ctx := cmd.Context()
	log, err := newLogger(cmd, slog.LevelInfo)
	if err != nil {
		return err
	}
	m := metrics.New(worker.Kinds())
	a, err := loadApp(db.configPath, app.Options{Logger: log, DMFOptions: func(env string, o *dmf.Options) { m.DMFOptions(env, o, log) }})
	if err != nil {
		return err
	}
	cfg := a.Config()
	// A project that does not compile does not stop the others: its steps fail with its
	// problems until they are fixed; say so now.
	for _, p := range a.CompileAll() {
		log.Error("a project's settings do not compile; its jobs fail until they are fixed (pipeline check)", "problem", p.String())
	}
	pool, err := db.openAppPool(ctx, a)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrations.Up(ctx, pool, log); err != nil {
		return err
	}
	host, _ := os.Hostname()
	m.UseDB(pool)
	w, err := worker.New(worker.Deps{
		Pool: pool, Parts: a, Logger: log, Periodic: true, Observer: m,
		ID: fmt.Sprintf("%s-%d", host, os.Getpid()),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Console.Addr)
	if err != nil {
		return usageError(fmt.Errorf("console.addr: %w", err))
	}
	con, err := startConsole(ctx, console.Options{App: a, Pool: pool, Worker: w, Logger: log})
	if err != nil {
		return err
	}
	defer con.Stop()
	srv := &http.Server{Handler: serveMux(pool, w, m.Handler(), con), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	events, cancelEvents := w.Client().Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobCancelled, river.EventKindJobSnoozed)
	defer cancelEvents()
	go m.Count(events)

	if err := w.Start(ctx); err != nil {
		return errors.Join(err, srv.Close())
	}
	fmt.Fprintf(cmd.OutOrStdout(), "serving %d projects; the console, health and metrics on http://%s\n", len(cfg.Projects), ln.Addr())

	select {
	case <-ctx.Done():
	case <-w.Lost():
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
		defer cancel()
		return errors.Join(errors.New("the database stayed unreachable: stopping (restart the process once it is back)"),
			w.Stop(stopCtx), srv.Shutdown(stopCtx))
	case err := <-served:
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
		defer cancel()
		return errors.Join(fmt.Errorf("console listener: %w", err), w.Stop(stopCtx))
	}
	log.Info("shutting down", "timeout", serveShutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
	defer cancel()
	return errors.Join(w.Stop(stopCtx), srv.Shutdown(stopCtx))
}

// serveMux is serve's HTTP surface: the console, and beside it /healthz, /readyz and
// /metrics. /readyz is 200 only while the node works jobs (it holds its liveness lock and
// its River client runs) and the database answers.
func serveMux(pool *pgxpool.Pool, w *worker.Worker, metrics http.Handler, con http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", con)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		if !w.Ready() {
			http.Error(rw, "workers not running (the database may be unreachable)", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			http.Error(rw, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ready")
	})
	mux.Handle("GET /metrics", metrics)
	return mux
}

// startConsole builds the console and starts what it runs in the background.
func startConsole(ctx context.Context, o console.Options) (*console.Console, error) {
	con, err := console.New(o)
	if err != nil {
		return nil, err
	}
	if err := con.Start(ctx); err != nil {
		return nil, err
	}
	return con, nil
}
