// Package metrics is what `serve` reports on /metrics, for dashboards and alerts:
//
//	dmfpipe_rows_total{project,state}            rows of ended jobs: read, staged, invalid, imported, rejected, not_imported
//	dmfpipe_jobs_ended_total{project,status}     jobs that ended, by outcome
//	dmfpipe_job_duration_seconds{project}        how long ended jobs took, created to ended
//	dmfpipe_step_duration_seconds{stage,outcome} how long one run of a stage took (River job runs)
//	dmfpipe_stage_jobs_total{kind,outcome}       River job runs by kind and outcome
//	dmfpipe_dmf_requests_total{environment,action,class}
//	                                             F&O requests by action and answer (2xx, 4xx, 429, 5xx, error)
//	dmfpipe_dmf_retries_total{environment,action} calls that waited to be sent again
//	dmfpipe_jobs{status}                         jobs in the database by status (at scrape)
//	dmfpipe_project_last_success_timestamp_seconds{project}
//	                                             when each project's last successful job ended (at scrape)
//	dmfpipe_queue_jobs{queue,state}              River jobs waiting or running, by queue (at scrape)
//
// Counters count what this process did: sum them over the nodes. The gauges read the
// database, which every node shares: take them from one node, or max over the nodes.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/internal/liveness"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Names are the names of dmfpipe's own metrics (the Go and process collectors add theirs).
var Names = []string{
	"dmfpipe_rows_total", "dmfpipe_jobs_ended_total", "dmfpipe_job_duration_seconds", "dmfpipe_step_duration_seconds",
	"dmfpipe_stage_jobs_total", "dmfpipe_dmf_requests_total", "dmfpipe_dmf_retries_total", "dmfpipe_jobs",
	"dmfpipe_project_last_success_timestamp_seconds", "dmfpipe_queue_jobs",
}

// Metrics are one process's metrics, on a registry of their own.
type Metrics struct {
	reg                          *prometheus.Registry
	rows, jobs, steps            *prometheus.CounterVec
	requests, retries            *prometheus.CounterVec
	jobSeconds, stepSeconds      *prometheus.HistogramVec
	stateGauge, lastOK, queueLen *prometheus.Desc
	pool                         *pgxpool.Pool
	kinds                        []string
}

// New makes the metrics of a process; kinds are the River job kinds whose queues are
// reported. The gauges read the database given to UseDB.
func New(kinds []string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(), kinds: kinds,
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmfpipe_rows_total",
			Help: "Rows of the jobs that ended, by project and state (read, staged, invalid, imported, rejected, not_imported)."},
			[]string{"project", "state"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmfpipe_jobs_ended_total",
			Help: "Jobs that ended, by project and status."}, []string{"project", "status"}),
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dmfpipe_job_duration_seconds",
			Help: "How long the jobs that ended took, from their creation.", Buckets: prometheus.ExponentialBuckets(1, 2.5, 12)},
			[]string{"project"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmfpipe_stage_jobs_total",
			Help: "River jobs of the stages by kind and outcome (completed, failed, cancelled, snoozed)."},
			[]string{"kind", "outcome"}),
		stepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dmfpipe_step_duration_seconds",
			Help: "How long one run of a stage took, by stage and outcome.", Buckets: prometheus.ExponentialBuckets(0.01, 3, 12)},
			[]string{"stage", "outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmfpipe_dmf_requests_total",
			Help: "Requests to F&O (and its token and blob endpoints) by environment, action and answer class."},
			[]string{"environment", "action", "class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmfpipe_dmf_retries_total",
			Help: "F&O calls that waited to be sent again (429, 5xx, network), by environment and action."},
			[]string{"environment", "action"}),
		stateGauge: prometheus.NewDesc("dmfpipe_jobs", "Import and export jobs in the database by status.", []string{"status"}, nil),
		lastOK: prometheus.NewDesc("dmfpipe_project_last_success_timestamp_seconds",
			"When each project's last successful job ended (Unix time).", []string{"project"}, nil),
		queueLen: prometheus.NewDesc("dmfpipe_queue_jobs", "River jobs waiting or running, by queue and state.", []string{"queue", "state"}, nil),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.rows, m.jobs, m.jobSeconds, m.steps, m.stepSeconds, m.requests, m.retries, dbCollector{m})
	return m
}

// UseDB sets the database the gauges read; call it before serving Handler.
func (m *Metrics) UseDB(pool *pgxpool.Pool) { m.pool = pool }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// JobEnded counts an ended job (imports.Observer).
func (m *Metrics) JobEnded(project, status string, c jobhistory.JobCounts, took time.Duration) {
	m.jobs.WithLabelValues(project, status).Inc()
	m.jobSeconds.WithLabelValues(project).Observe(took.Seconds())
	for state, n := range map[string]int64{"read": c.Read, "staged": c.Staged, "invalid": c.Invalid,
		"imported": c.Imported, "rejected": c.Rejected, "not_imported": c.NotImported} {
		m.rows.WithLabelValues(project, state).Add(float64(n))
	}
}

// Count counts River's job events until events is closed.
func (m *Metrics) Count(events <-chan *river.Event) {
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
		if e.Job == nil {
			continue
		}
		m.steps.WithLabelValues(e.Job.Kind, outcome).Inc()
		if e.JobStats != nil {
			m.stepSeconds.WithLabelValues(strings.TrimPrefix(e.Job.Kind, "dmfpipe."), outcome).Observe(e.JobStats.RunDuration.Seconds())
		}
	}
}

// DMFOptions counts an environment's requests and retries on its client: the HTTP
// transport counts every attempt's answer, OnRetry every wait (and logs it at warn, as
// the client would without the hook).
func (m *Metrics) DMFOptions(env string, o *dmf.Options, log *slog.Logger) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		o.HTTPClient = &http.Client{Transport: counting{m: m, env: env, next: o.HTTPClient.Transport}, Timeout: o.HTTPClient.Timeout}
	} else {
		o.HTTPClient = &http.Client{Transport: counting{m: m, env: env, next: base}}
	}
	next := o.OnRetry
	o.OnRetry = func(r dmf.Retry) {
		m.retries.WithLabelValues(env, r.Op).Inc()
		if next != nil {
			next(r)
		} else if log != nil {
			log.Warn(r.String(), "environment", env, "op", r.Op, "attempt", r.Attempt, "wait", r.Wait)
		}
	}
}

// counting is an HTTP transport that counts each request's answer.
type counting struct {
	m    *Metrics
	env  string
	next http.RoundTripper
}

func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	class := "error"
	if err == nil {
		switch code := resp.StatusCode; {
		case code == http.StatusTooManyRequests:
			class = "429"
		default:
			class = strconv.Itoa(code/100) + "xx"
		}
	}
	c.m.requests.WithLabelValues(c.env, Action(r), class).Inc()
	return resp, err
}

// Action names an F&O request for metrics: the OData action, the recurring connector
// call, "token", "blob", "metadata" or "odata".
func Action(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.Contains(p, "Microsoft.Dynamics.DataEntities."):
		return p[strings.LastIndex(p, ".")+1:]
	case strings.Contains(p, "/api/connector/"):
		rest := p[strings.Index(p, "/api/connector/")+len("/api/connector/"):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i]
		}
		return "connector." + rest
	case strings.Contains(p, "/oauth2/"):
		return "token"
	case strings.Contains(p, "/metadata/"):
		return "metadata"
	case strings.HasPrefix(p, "/data/"):
		return "odata"
	}
	return "blob"
}

// dbCollector reads the gauges from the database at each scrape.
type dbCollector struct{ m *Metrics }

func (d dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.m.stateGauge
	ch <- d.m.lastOK
	ch <- d.m.queueLen
}

func (d dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hist := jobhistory.NewStore(d.m.pool)
	if counts, err := hist.CountJobs(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(d.m.stateGauge, err)
	} else {
		for status, n := range counts {
			ch <- prometheus.MustNewConstMetric(d.m.stateGauge, prometheus.GaugeValue, float64(n), status)
		}
	}
	if last, err := hist.LastSuccesses(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(d.m.lastOK, err)
	} else {
		for project, at := range last {
			ch <- prometheus.MustNewConstMetric(d.m.lastOK, prometheus.GaugeValue, float64(at.Unix()), project)
		}
	}
	if depth, err := liveness.QueueDepth(ctx, d.m.pool, d.m.kinds); err != nil {
		ch <- prometheus.NewInvalidMetric(d.m.queueLen, err)
	} else {
		for queue, states := range depth {
			for state, n := range states {
				ch <- prometheus.MustNewConstMetric(d.m.queueLen, prometheus.GaugeValue, float64(n), queue, state)
			}
		}
	}
}
