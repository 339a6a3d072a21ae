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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/jobhistory"
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
		Short: "Run the scheduler and the import workers, with health and metrics endpoints",
		Long: `serve runs every project on its schedule: the scheduler's periodic jobs, the import
workers (discover, ingest, upload, poll, finalize, notify) and an HTTP listener on
console.addr with /healthz (the process is up), /readyz (the database answers and the
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
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := loadApp(db.configPath, app.Options{Logger: log})
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
	w, err := worker.New(worker.Deps{
		Pool: pool, Parts: a, Logger: log, Periodic: true,
		ID: fmt.Sprintf("%s-%d", host, os.Getpid()),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Console.Addr)
	if err != nil {
		return usageError(fmt.Errorf("console.addr: %w", err))
	}
	srv := &http.Server{Handler: serveMux(pool, w), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	metrics, err := registerJobMetrics(pool)
	if err != nil {
		return err
	}
	events, cancelEvents := w.Client().Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobCancelled, river.EventKindJobSnoozed)
	defer cancelEvents()
	go metrics.count(events)

	if err := w.Start(ctx); err != nil {
		return errors.Join(err, srv.Close())
	}
	fmt.Fprintf(cmd.OutOrStdout(), "serving %d projects; health and metrics on http://%s\n", len(cfg.Projects), ln.Addr())

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

// serveMux is serve's HTTP surface. /readyz is 200 only while the node works jobs (it
// holds its liveness lock and its River client runs) and the database answers.
func serveMux(pool *pgxpool.Pool, w *worker.Worker) *http.ServeMux {
	mux := http.NewServeMux()
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
	mux.Handle("GET /metrics", promhttp.Handler())
	return mux
}

// jobMetrics are serve's job counters on Prometheus' default registry.
type jobMetrics struct {
	// stages counts River job outcomes by stage (job kind) and outcome.
	stages *prometheus.CounterVec
}

// registerJobMetrics registers the counters of River jobs and a gauge of the import jobs
// by status, read from the database at each scrape. Registering again (a second serve in
// one process, as in tests) reuses what is registered.
func registerJobMetrics(pool *pgxpool.Pool) (*jobMetrics, error) {
	stages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dmfpipe_stage_jobs_total",
		Help: "River jobs of the import stages by kind and outcome (completed, failed, cancelled, snoozed).",
	}, []string{"kind", "outcome"})
	if err := prometheus.Register(stages); err != nil {
		are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return nil, err
		}
		stages = are.ExistingCollector.(*prometheus.CounterVec)
	}
	jobs := &jobsCollector{pool: pool, desc: prometheus.NewDesc("dmfpipe_jobs",
		"Import and export jobs by status.", []string{"status"}, nil)}
	if err := prometheus.Register(jobs); err != nil {
		are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return nil, err
		}
		// The registered collector reads the first pool: point it at this one.
		are.ExistingCollector.(*jobsCollector).pool = pool
	}
	return &jobMetrics{stages: stages}, nil
}

func (m *jobMetrics) count(events <-chan *river.Event) {
	for e := range events {
		outcome := ""
		switch e.Kind {
		case river.EventKindJobCompleted:
			outcome = "completed"
		case river.EventKindJobFailed:
			outcome = "failed"
		case river.EventKindJobCancelled:
			outcome = "cancelled"
		case river.EventKindJobSnoozed:
			outcome = "snoozed"
		}
		if e.Job != nil {
			m.stages.WithLabelValues(e.Job.Kind, outcome).Inc()
		}
	}
}

// jobsCollector reports the jobs table by status.
type jobsCollector struct {
	pool *pgxpool.Pool
	desc *prometheus.Desc
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := jobhistory.NewStore(c.pool).CountJobs(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}
