package emulator

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Validate reports rates outside [0, 1] and negative counts or durations.
func (f Faults) Validate() error {
	var errs []error
	for name, r := range map[string]float64{"rate_429": f.Rate429, "rate_5xx": f.Rate5xx, "rate_5xx_on_status": f.Rate5xxOnStatus} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s is %v, want a share between 0 and 1", name, r))
		}
	}
	if f.RetryAfter < 0 || f.Latency < 0 {
		errs = append(errs, errors.New("retry_after and latency must not be negative"))
	}
	if f.NotFoundAfterImport < 0 || f.ExportURLNotReady < 0 || f.DequeueNoFile < 0 || f.AckFailures < 0 {
		errs = append(errs, errors.New("not_found_after_import, export_url_not_ready, dequeue_no_file and ack_failures must not be negative"))
	}
	return errors.Join(errs...)
}

// faultsJSON is Faults on the admin API, with durations as Go duration strings.
type faultsJSON struct {
	Rate429               float64 `json:"rate_429"`
	RetryAfter            string  `json:"retry_after"`
	RetryAfterHTTPDate    bool    `json:"retry_after_http_date"`
	Rate5xxOnStatus       float64 `json:"rate_5xx_on_status"`
	Rate5xx               float64 `json:"rate_5xx"`
	NotFoundAfterImport   int     `json:"not_found_after_import"`
	StuckExecuting        bool    `json:"stuck_executing"`
	FailConcurrentImports bool    `json:"fail_concurrent_imports"`
	Latency               string  `json:"latency"`
	PartialExports        bool    `json:"partial_exports"`
	ExportURLNotReady     int     `json:"export_url_not_ready"`
	DequeueNoFile         int     `json:"dequeue_no_file"`
	AckFailures           int     `json:"ack_failures"`
}

func toFaultsJSON(f Faults) faultsJSON {
	return faultsJSON{
		Rate429: f.Rate429, RetryAfter: f.RetryAfter.String(), RetryAfterHTTPDate: f.RetryAfterHTTPDate,
		Rate5xxOnStatus: f.Rate5xxOnStatus, Rate5xx: f.Rate5xx, NotFoundAfterImport: f.NotFoundAfterImport,
		StuckExecuting: f.StuckExecuting, FailConcurrentImports: f.FailConcurrentImports, Latency: f.Latency.String(),
		PartialExports: f.PartialExports, ExportURLNotReady: f.ExportURLNotReady, DequeueNoFile: f.DequeueNoFile, AckFailures: f.AckFailures,
	}
}

func (j faultsJSON) faults() (Faults, error) {
	f := Faults{
		Rate429: j.Rate429, RetryAfterHTTPDate: j.RetryAfterHTTPDate, Rate5xxOnStatus: j.Rate5xxOnStatus,
		Rate5xx: j.Rate5xx, NotFoundAfterImport: j.NotFoundAfterImport, StuckExecuting: j.StuckExecuting,
		FailConcurrentImports: j.FailConcurrentImports, PartialExports: j.PartialExports, ExportURLNotReady: j.ExportURLNotReady,
		DequeueNoFile: j.DequeueNoFile, AckFailures: j.AckFailures,
	}
	var err error
	if j.RetryAfter != "" {
		if f.RetryAfter, err = time.ParseDuration(j.RetryAfter); err != nil {
			return f, fmt.Errorf("retry_after: %w", err)
		}
	}
	if j.Latency != "" {
		if f.Latency, err = time.ParseDuration(j.Latency); err != nil {
			return f, fmt.Errorf("latency: %w", err)
		}
	}
	return f, f.Validate()
}

// recurringJobJSON is RecurringJob on the admin API.
type recurringJobJSON struct {
	ActivityID      string `json:"activity_id"`
	Direction       string `json:"direction"`
	Entity          string `json:"entity"`
	DefinitionGroup string `json:"definition_group"`
	LegalEntity     string `json:"legal_entity"`
	Interval        string `json:"interval"`
}

// serveAdmin implements the inspection and admin API under /_emulator/ (see doc.go).
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_emulator/"), "/")
	q := r.URL.Query()
	switch {
	case path == "rows" && r.Method == http.MethodGet:
		if _, ok := e.cat.Lookup(q.Get("entity")); !ok {
			adminError(w, http.StatusBadRequest, "unknown entity %q", q.Get("entity"))
			return
		}
		rows := e.Rows(q.Get("entity"), e.adminLegalEntity(q.Get("legal_entity")))
		if rows == nil {
			rows = []map[string]string{}
		}
		writeJSON(w, http.StatusOK, rows)
	case path == "rows" && r.Method == http.MethodPost:
		var rows []map[string]string
		if !decodeAdmin(w, r, &rows) {
			return
		}
		if err := e.seed(q.Get("entity"), e.adminLegalEntity(q.Get("legal_entity")), rows); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case path == "executions" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, e.Executions())
	case strings.HasPrefix(path, "executions/") && strings.HasSuffix(path, "/cancel") && r.Method == http.MethodPost:
		id := strings.TrimSuffix(strings.TrimPrefix(path, "executions/"), "/cancel")
		if !e.CancelExecution(id) {
			adminError(w, http.StatusConflict, "execution %q does not exist or has finished", id)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(path, "executions/") && r.Method == http.MethodGet:
		info, ok := e.Execution(strings.TrimPrefix(path, "executions/"))
		if !ok {
			adminError(w, http.StatusNotFound, "execution %q does not exist", strings.TrimPrefix(path, "executions/"))
			return
		}
		writeJSON(w, http.StatusOK, info)
	case path == "stats" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, e.Stats())
	case path == "faults" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, toFaultsJSON(e.CurrentFaults()))
	case path == "faults" && r.Method == http.MethodPut:
		var j faultsJSON
		if !decodeAdmin(w, r, &j) {
			return
		}
		f, err := j.faults()
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		e.SetFaults(f)
		writeJSON(w, http.StatusOK, toFaultsJSON(f))
	case path == "export-projects" && r.Method == http.MethodPost:
		var p ExportProject
		if !decodeAdmin(w, r, &p) {
			return
		}
		if _, ok := e.cat.Lookup(p.Entity); !ok || p.DefinitionGroup == "" {
			adminError(w, http.StatusBadRequest, "definition_group is required and entity %q must be in the catalog", p.Entity)
			return
		}
		for _, name := range p.Entities {
			if _, ok := e.cat.Lookup(name); !ok {
				adminError(w, http.StatusBadRequest, "entity %q must be in the catalog", name)
				return
			}
		}
		e.AddExportProject(p)
		w.WriteHeader(http.StatusNoContent)
	case path == "recurring-jobs" && r.Method == http.MethodPost:
		e.adminAddRecurringJob(w, r)
	case strings.HasPrefix(path, "recurring-jobs/") && strings.HasSuffix(path, "/messages") && r.Method == http.MethodPost:
		id := strings.TrimSuffix(strings.TrimPrefix(path, "recurring-jobs/"), "/messages")
		n, err := strconv.Atoi(cmp.Or(q.Get("count"), "1"))
		if err != nil || n < 1 || n > 100_000 {
			adminError(w, http.StatusBadRequest, "count must be a number from 1 to 100000")
			return
		}
		ids := make([]string, 0, n)
		for range n {
			corr, ok := e.QueueRecurringExport(id)
			if !ok {
				adminError(w, http.StatusNotFound, "no recurring export job %q", id)
				return
			}
			ids = append(ids, corr)
		}
		writeJSON(w, http.StatusOK, map[string][]string{"correlation_ids": ids})
	case strings.HasPrefix(path, "recurring-jobs/") && strings.HasSuffix(path, "/run") && r.Method == http.MethodPost:
		id := strings.TrimSuffix(strings.TrimPrefix(path, "recurring-jobs/"), "/run")
		if !e.RunRecurringExport(id) {
			adminError(w, http.StatusNotFound, "no recurring export job %q", id)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		adminError(w, http.StatusNotFound, "no admin endpoint %s %s", r.Method, r.URL.Path)
	}
}

func (e *Emulator) adminLegalEntity(le string) string {
	if le == "" {
		return e.cfg.DefaultLegalEntity
	}
	return le
}

func (e *Emulator) adminAddRecurringJob(w http.ResponseWriter, r *http.Request) {
	var j recurringJobJSON
	if !decodeAdmin(w, r, &j) {
		return
	}
	job := RecurringJob{ActivityID: j.ActivityID, Direction: j.Direction, Entity: j.Entity,
		DefinitionGroup: j.DefinitionGroup, LegalEntity: j.LegalEntity}
	if j.Interval != "" {
		d, err := time.ParseDuration(j.Interval)
		if err != nil {
			adminError(w, http.StatusBadRequest, "interval: %v", err)
			return
		}
		job.Interval = d
	}
	if err := e.checkRecurringJob(job); err != nil {
		adminError(w, http.StatusBadRequest, "%v", err)
		return
	}
	e.AddRecurringJob(job)
	w.WriteHeader(http.StatusNoContent)
}

// checkRecurringJob reports a job the emulator cannot run.
func (e *Emulator) checkRecurringJob(j RecurringJob) error {
	if activityKey(j.ActivityID) == "" {
		return errors.New("activity_id is required")
	}
	switch strings.ToLower(j.Direction) {
	case "", DirectionImport:
		if _, ok := e.cat.Lookup(j.Entity); j.Entity != "" && !ok {
			return fmt.Errorf("unknown entity %q", j.Entity)
		}
	case DirectionExport:
		if j.DefinitionGroup == "" {
			return errors.New("an export job needs definition_group (an export project)")
		}
	default:
		return fmt.Errorf("direction %q: want import or export", j.Direction)
	}
	return nil
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "decoding request body: %v", err)
		return false
	}
	return true
}

func adminError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}
