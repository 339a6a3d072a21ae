package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/migrations"
	"github.com/dmfpipe/dmfpipe/notify"
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
	cfg, err := loadConfig(db.configPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	pool, err := db.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrations.Up(ctx, pool, log); err != nil {
		return err
	}
	host, _ := os.Hostname()
	w, err := worker.New(worker.Deps{
		Pool: pool, Config: cfg, Logger: log, Notifier: projectNotifier(cfg), Periodic: true,
		ID: fmt.Sprintf("%s-%d", host, os.Getpid()),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Console.Addr)
	if err != nil {
		return usageError(fmt.Errorf("console.addr: %w", err))
	}
	var ready atomic.Bool
	srv := &http.Server{Handler: serveMux(pool, &ready), ReadHeaderTimeout: 10 * time.Second}
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
	ready.Store(true)
	fmt.Fprintf(cmd.OutOrStdout(), "serving %d projects; health and metrics on http://%s\n", len(cfg.Projects), ln.Addr())

	select {
	case <-ctx.Done():
	case err := <-served:
		ready.Store(false)
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
		defer cancel()
		return errors.Join(fmt.Errorf("console listener: %w", err), w.Stop(stopCtx))
	}
	ready.Store(false)
	log.Info("shutting down", "timeout", serveShutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
	defer cancel()
	return errors.Join(w.Stop(stopCtx), srv.Shutdown(stopCtx))
}

// serveMux is serve's HTTP surface.
func serveMux(pool *pgxpool.Pool, ready *atomic.Bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "workers not running", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
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
	rows, err := c.pool.Query(ctx, `SELECT status, count(*) FROM jobs GROUP BY status`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status string
			n      float64
		)
		if err := rows.Scan(&status, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n, status)
	}
	if err := rows.Err(); err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
	}
}

// projectNotifier sends each job's notification to its project's email recipients and
// webhook; nil when no project asks for notifications.
func projectNotifier(cfg *config.Config) notify.Sender {
	senders := map[string]notify.Sender{}
	for _, p := range cfg.Projects {
		if p.Notify == nil {
			continue
		}
		var multi notify.Multi
		if len(p.Notify.Email) > 0 && cfg.SMTP != nil {
			multi = append(multi, &notify.Email{SMTP: *cfg.SMTP, To: p.Notify.Email})
		}
		if !p.Notify.Webhook.IsZero() {
			multi = append(multi, &notify.Webhook{URL: p.Notify.Webhook})
		}
		if len(multi) > 0 {
			senders[p.Name] = multi
		}
	}
	if len(senders) == 0 {
		return nil
	}
	return byProject(senders)
}

// byProject routes a notification to its project's senders.
type byProject map[string]notify.Sender

func (b byProject) Send(ctx context.Context, j notify.Job) error {
	s, ok := b[j.Project]
	if !ok {
		return &notify.Error{Channel: notify.ChannelEmail, Permanent: true, Err: fmt.Errorf("project %s has no notification configured", j.Project)}
	}
	return s.Send(ctx, j)
}
