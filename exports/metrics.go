package exports

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the export stages' Prometheus counters (served on `serve`'s /metrics with
// the rest): files, rows and bytes written, and recurring messages by what became of them.
type Metrics struct {
	files    *prometheus.CounterVec
	rows     prometheus.Counter
	bytes    prometheus.Counter
	messages *prometheus.CounterVec
}

// RegisterMetrics registers the export counters with reg, or reuses those registered
// already (several workers in one process, as in tests).
func RegisterMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmfpipe_export_files_total",
			Help: "Files exports committed to their destinations, by kind (data, raw, manifest).",
		}, []string{"kind"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dmfpipe_export_rows_total", Help: "Data rows exports wrote.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dmfpipe_export_bytes_total", Help: "Bytes of the files exports committed.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmfpipe_recurring_messages_total",
			Help: "Recurring export messages by outcome (written, acked, redelivered, no_file, failed, ack_failed).",
		}, []string{"outcome"}),
	}
	var err error
	m.files, err = register(reg, m.files)
	if err != nil {
		return nil, err
	}
	if m.rows, err = register(reg, m.rows); err != nil {
		return nil, err
	}
	if m.bytes, err = register(reg, m.bytes); err != nil {
		return nil, err
	}
	if m.messages, err = register(reg, m.messages); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *Metrics) file(kind string, rows, bytes int64) {
	if m == nil {
		return
	}
	m.files.WithLabelValues(kind).Inc()
	if kind == "data" {
		m.rows.Add(float64(rows))
	}
	m.bytes.Add(float64(bytes))
}

func (m *Metrics) message(outcome string) {
	if m == nil {
		return
	}
	m.messages.WithLabelValues(outcome).Inc()
}
