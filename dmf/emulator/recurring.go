package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// Recurring job directions.
const (
	DirectionImport = "import"
	DirectionExport = "export"
)

// Recurring message statuses, documented spellings (dmf-api.md §3.6).
const (
	msgEnqueued             = "Enqueued"
	msgDequeued             = "Dequeued"
	msgAcked                = "Acked"
	msgPreprocessing        = "Preprocessing"
	msgProcessing           = "Processing"
	msgProcessed            = "Processed"
	msgPreProcessingError   = "PreProcessingError"
	msgProcessedWithErrors  = "ProcessedWithErrors"
	msgPostProcessingFailed = "PostProcessingFailed"
)

// RecurringJob is a recurring data job ("Manage scheduled data jobs").
type RecurringJob struct {
	// ActivityID is the job's GUID, with or without braces.
	ActivityID string
	// Direction is DirectionImport (the default) or DirectionExport.
	Direction string
	// Entity (import) makes the job take individual files of this entity; empty means
	// the job takes data packages.
	Entity string
	// DefinitionGroup is the data project: for an import the project executions run in
	// (default "Recurring-<activity ID>"), for an export an export project, which must
	// exist when the export runs.
	DefinitionGroup string
	// LegalEntity is the company when enqueue has no company parameter, and the company
	// of exports. Defaults to Config.DefaultLegalEntity.
	LegalEntity string
	// Interval (export) is the recurrence: the export runs on the first dequeue, and again
	// on a dequeue at least Interval after the previous run. 0 runs it once.
	Interval time.Duration
}

type recurringJob struct {
	RecurringJob
	lastRun time.Time
	forced  bool
	running chan struct{} // non-nil while an export runs; closed when it ends
}

type message struct {
	id         string
	job        *recurringJob
	export     bool
	status     string
	externalID string
	entity     *catalog.Entity
	company    string
	data       []byte // import: the enqueued file; export: the package
	execID     string
	problem    string // why preprocessing failed
	created    time.Time

	correlationID, blobID, popReceipt string
	visibleAt, lastDequeued           time.Time
	dequeueCount                      int
	noFile                            bool // Faults.DequeueNoFile: handed out without a file
}

func activityKey(id string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(id), "{}"))
}

// AddRecurringJob creates or replaces a recurring data job.
func (e *Emulator) AddRecurringJob(j RecurringJob) {
	j.Direction = strings.ToLower(j.Direction)
	if j.Direction == "" {
		j.Direction = DirectionImport
	}
	if j.DefinitionGroup == "" {
		j.DefinitionGroup = "Recurring-" + activityKey(j.ActivityID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recurringJobs[activityKey(j.ActivityID)] = &recurringJob{RecurringJob: j}
}

// RunRecurringExport makes an export job due, so the next dequeue runs it again.
func (e *Emulator) RunRecurringExport(activityID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.recurringJobs[activityKey(activityID)]
	if !ok || j.Direction != DirectionExport {
		return false
	}
	j.forced = true
	return true
}

func (e *Emulator) recurringJob(id string) (*recurringJob, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.recurringJobs[activityKey(id)]
	return j, ok
}

// serveConnector dispatches /api/connector/{enqueue|dequeue|download|ack|jobstatus}/{activityId}.
func (e *Emulator) serveConnector(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/connector/")
	op, activity, _ := strings.Cut(rest, "/")
	job, ok := e.recurringJob(activity)
	if !ok {
		writeODataError(w, http.StatusBadRequest, "", fmt.Sprintf("The recurring data job with activity ID '%s' was not found.", activity))
		return
	}
	switch {
	case op == "enqueue" && r.Method == http.MethodPost:
		e.enqueue(w, r, job)
	case op == "dequeue" && r.Method == http.MethodGet:
		e.dequeue(w, r, job)
	case op == "download" && r.Method == http.MethodGet:
		e.download(w, r, job)
	case op == "ack" && r.Method == http.MethodPost:
		e.ack(w, r, job)
	case op == "jobstatus" && r.Method == http.MethodGet:
		e.jobStatus(w, r)
	default:
		writeODataError(w, http.StatusNotFound, "", "No HTTP resource was found that matches the request URI '"+r.URL.String()+"'.")
	}
}

// enqueue accepts a file (job with an entity) or a data package and processes it at
// once, through the same import engine as ImportFromPackage.
func (e *Emulator) enqueue(w http.ResponseWriter, r *http.Request, job *recurringJob) {
	if job.Direction != DirectionImport {
		writeODataError(w, http.StatusBadRequest, "", "The recurring data job '"+job.ActivityID+"' is an export job; use dequeue.")
		return
	}
	q := r.URL.Query()
	m := &message{id: newGUID(), job: job, status: msgEnqueued, externalID: r.Header.Get("x-ms-dyn-externalidentifier"), created: e.now()}
	if job.Entity != "" {
		name := q.Get("entity")
		if name == "" {
			writeODataError(w, http.StatusBadRequest, "", "The entity parameter is required: the recurring data job takes individual files.")
			return
		}
		jobEnt, ok1 := e.cat.Lookup(job.Entity)
		ent, ok2 := e.cat.Lookup(name)
		if !ok1 || !ok2 || ent != jobEnt || !strings.EqualFold(ent.DMFName, name) {
			writeODataError(w, http.StatusBadRequest, "", fmt.Sprintf("Entity '%s' is not part of the recurring data job '%s'.", name, job.ActivityID))
			return
		}
		m.entity = ent
	}
	company := q.Get("company")
	if company == "" {
		company = job.LegalEntity
	}
	le, msg := e.legalEntity(company)
	if msg != "" {
		writeODataError(w, http.StatusBadRequest, "", msg)
		return
	}
	m.company = le
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.EnqueueLimit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeODataError(w, http.StatusRequestEntityTooLarge, "", "Request Entity Too Large")
			return
		}
		writeODataError(w, http.StatusBadRequest, "", "Reading the request body failed: "+err.Error())
		return
	}
	m.data = data
	e.mu.Lock()
	e.messages[m.id] = m
	e.messageOrder = append(e.messageOrder, m)
	e.mu.Unlock()
	e.enqueued.Add(1)
	go e.processMessage(m)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `"`+m.id+`"`)
}

func (e *Emulator) setMessage(m *message, fn func(m *message)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn(m)
}

// processMessage runs an enqueued message: Preprocessing (parse), Processing (import),
// then Processed, ProcessedWithErrors or PreProcessingError.
func (e *Emulator) processMessage(m *message) {
	e.setMessage(m, func(m *message) { m.status = msgPreprocessing })
	if !e.sleep(e.cfg.ExecutionDelay) {
		return
	}
	var me *manifestEntity
	var mf *manifest
	var problem string
	if m.entity != nil {
		me, problem = e.fileEntity(m)
	} else {
		var err error
		if mf, err = openPackage(m.data, e.cat, true); err != nil {
			problem = err.Error()
		}
	}
	if problem != "" {
		e.setMessage(m, func(m *message) { m.status, m.problem = msgPreProcessingError, problem })
		return
	}
	ex := e.newExecution(e.generatedExecutionID(m.job.DefinitionGroup), m.job.DefinitionGroup, m.company, KindImport)
	ex.execute, ex.messageID = true, m.id
	entities := []*manifestEntity{me}
	if mf != nil {
		entities = mf.Entities
	}
	for _, x := range entities {
		ex.runs = append(ex.runs, &entityRun{me: x, ent: x.entity, name: x.entity.DMFName,
			stagingStatus: entityNotRun, targetStatus: entityNotRun})
	}
	if err := e.useGroup(m.job.DefinitionGroup, opImport, "Recurring data job "+m.job.ActivityID); err != nil {
		e.setMessage(m, func(m *message) { m.status, m.problem = msgPreProcessingError, err.Error() })
		return
	}
	e.mu.Lock()
	e.registerLocked(ex)
	m.execID, m.status = ex.id, msgProcessing
	e.mu.Unlock()
	e.runImport(ex)
	status := msgProcessedWithErrors
	if ex.currentStatus() == StatusSucceeded {
		status = msgProcessed
	}
	e.setMessage(m, func(m *message) { m.status = status })
}

// fileEntity turns an individual file into an import entity: header columns map to
// entity fields by staging or OData name. The job's source format is taken to be CSV
// in any Unicode encoding (UTF-16 with BOM, or UTF-8).
func (e *Emulator) fileEntity(m *message) (*manifestEntity, string) {
	text, _ := decodeCSVUnicode(bytes.NewReader(m.data), true)
	header, err := newCSVReader(text).Read()
	if err != nil {
		return nil, fmt.Sprintf("The file could not be read as CSV: %v.", err)
	}
	me := &manifestEntity{
		EntityName: m.entity.DMFName, InputFilePath: m.externalID, SourceFormat: csvUnicode,
		entity: m.entity, utf8OK: true,
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(m.data)), nil },
	}
	if me.InputFilePath == "" {
		me.InputFilePath = m.id
	}
	for _, h := range header {
		if f, ok := m.entity.Field(strings.TrimSpace(h)); ok {
			me.Maps = append(me.Maps, entityMap{EntityField: f.StagingName, XMLField: h})
		}
	}
	if len(me.Maps) == 0 {
		return nil, fmt.Sprintf("No column of the file matches a field of entity '%s'.", m.entity.DMFName)
	}
	return me, ""
}

// dequeue hands out the oldest visible export message (200) or answers 204. A due
// export runs first; the call waits for it while the client waits.
func (e *Emulator) dequeue(w http.ResponseWriter, r *http.Request, job *recurringJob) {
	if job.Direction == DirectionExport {
		if done := e.runDueExport(job); done != nil {
			select {
			case <-done:
			case <-r.Context().Done():
				return
			}
		}
	}
	now := e.now()
	e.mu.Lock()
	var m *message
	for _, x := range e.messageOrder {
		ready := x.status == msgProcessed || x.status == msgProcessedWithErrors || x.status == msgDequeued
		if x.job == job && x.export && ready && (x.data != nil || x.noFile) && !now.Before(x.visibleAt) {
			m = x
			break
		}
	}
	if m == nil {
		e.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	last := ""
	if !m.lastDequeued.IsZero() {
		last = m.lastDequeued.UTC().Format(time.RFC3339)
	}
	m.status, m.lastDequeued, m.visibleAt = msgDequeued, now, now.Add(e.cfg.VisibilityTimeout)
	m.dequeueCount++
	m.popReceipt = base64.StdEncoding.EncodeToString([]byte(newHex(8)))
	body := map[string]any{
		"CorrelationId":            m.correlationID,
		"PopReceipt":               m.popReceipt,
		"DownloadLocation":         e.downloadLocation(r, job, m),
		"IsDownLoadFileExist":      true,
		"FileDownLoadErrorMessage": "",
		"LastDequeuedDateTime":     last,
	}
	if m.noFile {
		// A 200 without a file: what crashed RIS (RIS#71).
		body["DownloadLocation"], body["IsDownLoadFileExist"] = nil, false
	}
	e.mu.Unlock()
	e.dequeued.Add(1)
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) downloadLocation(r *http.Request, job *recurringJob, m *message) string {
	base := baseURL(r)
	if e.cfg.Quirks.HTTPDownloadLocation {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		base = "http://" + host + ":80"
	}
	return base + "/api/connector/download/%7B" + strings.ToUpper(activityKey(job.ActivityID)) + "%7D?correlation-id=" +
		m.correlationID + "&blob=" + m.blobID
}

// runDueExport starts the job's export when it is due and returns a channel closed when
// the run ends; nil when nothing is due or running.
func (e *Emulator) runDueExport(job *recurringJob) <-chan struct{} {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if job.running != nil {
		return job.running
	}
	due := job.lastRun.IsZero() || job.forced || job.Interval > 0 && !now.Before(job.lastRun.Add(job.Interval))
	if !due {
		return nil
	}
	job.lastRun, job.forced = now, false
	done := make(chan struct{})
	job.running = done
	m := e.newExportMessageLocked(job, now)
	go func() {
		defer func() {
			e.mu.Lock()
			job.running = nil
			e.mu.Unlock()
			close(done)
		}()
		e.runRecurringExport(job, m)
	}()
	return done
}

// newExportMessageLocked registers the message of a recurring export run; the caller
// holds e.mu.
func (e *Emulator) newExportMessageLocked(job *recurringJob, now time.Time) *message {
	m := &message{id: newGUID(), job: job, export: true, status: msgProcessing, created: now,
		correlationID: newGUID(), blobID: newGUID()}
	e.messages[m.id] = m
	e.messageOrder = append(e.messageOrder, m)
	return m
}

// QueueRecurringExport runs a recurring export job's export now, synchronously, and queues
// its message for dequeue, as F&O's batch does at each recurrence: n calls make a backlog
// of n messages. It returns the message's CorrelationId; ok is false for an unknown job
// or one that imports.
func (e *Emulator) QueueRecurringExport(activityID string) (correlationID string, ok bool) {
	job, ok := e.recurringJob(activityID)
	if !ok || job.Direction != DirectionExport {
		return "", false
	}
	now := e.now()
	e.mu.Lock()
	job.lastRun = now
	m := e.newExportMessageLocked(job, now)
	e.mu.Unlock()
	e.runRecurringExport(job, m)
	return m.correlationID, true
}

func (e *Emulator) runRecurringExport(job *recurringJob, m *message) {
	if e.takeFault(func(f *Faults) *int { return &f.DequeueNoFile }) {
		e.setMessage(m, func(m *message) { m.status, m.noFile, m.visibleAt = msgProcessed, true, e.now() })
		return
	}
	g, ok := e.group(job.DefinitionGroup)
	if !ok || g.operation != opExport {
		e.setMessage(m, func(m *message) {
			m.status, m.problem = msgPreProcessingError, "Export project '"+job.DefinitionGroup+"' doesn't exist."
		})
		return
	}
	le, _ := e.legalEntity(job.LegalEntity)
	spec := exportSpec{entities: g.entities, filter: g.filter, packageName: m.id}
	ex, _ := e.newExport(g.name, le, "", false, spec)
	ex.messageID = m.id
	e.setMessage(m, func(m *message) { m.execID = ex.id })
	e.runExport(ex, spec)
	status := ex.currentStatus()
	var data []byte
	ex.mu.Lock()
	blobName := ex.exportBlob
	ex.mu.Unlock()
	if b, ok := e.blobs.get(blobName); ok {
		data = b.data
	}
	e.setMessage(m, func(m *message) {
		switch {
		case status == StatusSucceeded && data != nil:
			m.status, m.data, m.visibleAt = msgProcessed, data, e.now()
		case data != nil:
			m.status, m.data, m.visibleAt = msgProcessedWithErrors, data, e.now()
		default:
			m.status = msgPostProcessingFailed
		}
	})
}

// download serves a dequeued message's file; it needs the bearer token like every
// connector call.
func (e *Emulator) download(w http.ResponseWriter, r *http.Request, job *recurringJob) {
	q := r.URL.Query()
	corr, blobID := q.Get("correlation-id"), q.Get("blob")
	e.mu.Lock()
	var data []byte
	for _, m := range e.messageOrder {
		if m.job == job && m.export && m.correlationID == corr && m.blobID == blobID && m.data != nil {
			data = m.data
		}
	}
	e.mu.Unlock()
	if data == nil {
		writeODataError(w, http.StatusNotFound, "", "The file for correlation ID '"+corr+"' was not found.")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// ack confirms a download: the message is Acked and never dequeued again.
func (e *Emulator) ack(w http.ResponseWriter, r *http.Request, job *recurringJob) {
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		writeODataError(w, http.StatusBadRequest, "", "The acknowledgement body must be the JSON received from dequeue.")
		return
	}
	corr, _ := body["CorrelationId"].(string)
	if _, ok := body["PopReceipt"]; !ok {
		e.violation("ack for correlation ID %q without PopReceipt", corr)
	}
	e.mu.Lock()
	var m *message
	for _, x := range e.messageOrder {
		if x.job == job && x.export && x.correlationID == corr {
			m = x
		}
	}
	if m == nil || m.dequeueCount == 0 {
		e.mu.Unlock()
		writeODataError(w, http.StatusBadRequest, "", "No dequeued message with correlation ID '"+corr+"'.")
		return
	}
	if e.takeFault(func(f *Faults) *int { return &f.AckFailures }) {
		e.mu.Unlock()
		e.faulted.Add(1)
		writeODataError(w, http.StatusInternalServerError, "", "An error has occurred while acknowledging the message.")
		return
	}
	first := m.status != msgAcked
	m.status = msgAcked
	e.mu.Unlock()
	if first {
		e.acked.Add(1)
	}
	w.WriteHeader(http.StatusOK)
}

func (e *Emulator) message(id string) (*message, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.messages[strings.ToLower(strings.Trim(strings.TrimSpace(id), `"{}`))]
	return m, ok
}

// spelledStatus applies the RIS spelling quirk.
func (e *Emulator) spelledStatus(s string) string {
	if !e.cfg.Quirks.RISStatusSpelling {
		return s
	}
	switch s {
	case msgPreprocessing:
		return "PreProcessing"
	case msgPostProcessingFailed:
		return "PostProcessingError"
	}
	return s
}

func (e *Emulator) actionMessageStatus(w http.ResponseWriter, r *http.Request, a args) {
	m, ok := e.message(a.str("messageId"))
	if !ok {
		writeODataError(w, http.StatusBadRequest, "", "Message '"+a.str("messageId")+"' was not found.")
		return
	}
	e.mu.Lock()
	s := m.status
	e.mu.Unlock()
	writeValue(w, r, edmString, e.spelledStatus(s))
}

func (e *Emulator) actionExecutionIDByMessage(w http.ResponseWriter, r *http.Request, a args) {
	id := ""
	if m, ok := e.message(a.str("_messageId")); ok {
		e.mu.Lock()
		id = m.execID
		e.mu.Unlock()
	}
	writeValue(w, r, edmString, id)
}

// dataJobState maps a message status to RIS's DataJobState.
func dataJobState(s string) string {
	switch s {
	case msgPreprocessing, msgProcessing:
		return "InProcess"
	case msgPreProcessingError:
		return "PreProcessError"
	case msgPostProcessingFailed:
		return "PostProcessError"
	}
	return s
}

// jobStatus answers the legacy GET /api/connector/jobstatus/{activityId}?jobId={messageId}
// with RIS's DataJobStatusDetail, not OData-wrapped.
func (e *Emulator) jobStatus(w http.ResponseWriter, r *http.Request) {
	m, ok := e.message(r.URL.Query().Get("jobId"))
	if !ok {
		writeODataError(w, http.StatusBadRequest, "", "Message '"+r.URL.Query().Get("jobId")+"' was not found.")
		return
	}
	e.mu.Lock()
	status, execID, problem := m.status, m.execID, m.problem
	group, ext, created := m.job.DefinitionGroup, m.externalID, m.created
	e.mu.Unlock()
	detail := []entityStatus{}
	var finished time.Time
	log := problem
	if ex, ok := e.execution(execID); ok {
		detail = ex.entityStatuses()
		info := ex.info()
		finished = info.Finished
		if log == "" {
			log = fmt.Sprintf("Execution %s: %s", ex.id, info.Status)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"DataJobStatus": map[string]any{
			"DataProject": group, "DataJobIdentifier": m.id, "ExternalIdentifier": ext,
			"ExecutionIdentifier": execID, "DataJobStartedDateTime": nullDate(created),
			"DataJobCompletedDateTime": nullDate(finished), "DataJobState": dataJobState(status),
		},
		"ExecutionLog":    log,
		"ExecutionDetail": detail,
	})
}
