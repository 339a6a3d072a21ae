package emulator

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// serveAction dispatches POST {base}/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.<action>.
func (e *Emulator) serveAction(w http.ResponseWriter, r *http.Request, action string) {
	spec, ok := actionParams[action]
	if !ok {
		writeODataError(w, http.StatusNotFound, "",
			fmt.Sprintf("No HTTP resource was found that matches the request URI; the action '%s' does not exist.", action))
		return
	}
	if r.Method != http.MethodPost {
		writeODataError(w, http.StatusMethodNotAllowed, "", "The action '"+action+"' only accepts POST requests.")
		return
	}
	a, ok := e.parseArgs(w, r, action, spec)
	if !ok {
		return
	}
	switch action {
	case "GetAzureWriteUrl":
		e.actionWriteURL(w, r, a)
	case "ImportFromPackage":
		e.actionImport(w, r, a, false)
	case "ImportFromPackageAsync":
		e.actionImport(w, r, a, true)
	case "ExportToPackage", "ExportToPackageAsync":
		e.actionExport(w, r, a, 0)
	case "ExportToPackagePreview":
		e.actionExport(w, r, a, a.i["count"])
	case "ExportFromPackage":
		e.actionExportFromPackage(w, r, a)
	case "GetExportedPackageUrl":
		e.actionExportedPackageURL(w, r, a)
	case "GetExecutionSummaryStatus":
		e.actionStatus(w, r, a)
	case "GetExecutionErrors":
		e.actionErrors(w, r, a)
	case "GetImportStagingErrorFileUrl":
		e.actionStagingErrorFile(w, r, a)
	case "GenerateImportTargetErrorKeysFile":
		e.actionGenerateKeysFile(w, r, a)
	case "GetImportTargetErrorKeysFileUrl":
		e.actionKeysFileURL(w, r, a)
	case "GetMessageStatus":
		e.actionMessageStatus(w, r, a)
	case "GetExecutionIdByMessageId":
		e.actionExecutionIDByMessage(w, r, a)
	case "GetExecutionSummaryPageUrl":
		url := ""
		if ex, ok := e.execution(a.str("executionId")); ok {
			url = e.summaryPageURL(r, ex.id)
		}
		writeValue(w, r, edmString, url)
	case "DeleteExecutionHistoryJob":
		writeValue(w, r, edmBoolean, e.deleteExecution(a.str("executionId")))
	case "InitializeDataManagement":
		w.Header().Set("OData-Version", "4.0")
		w.WriteHeader(http.StatusNoContent)
	case "GetEntityExecutionSummaryStatusList":
		e.actionEntityStatusList(w, r, a)
	}
}

func (e *Emulator) summaryPageURL(r *http.Request, id string) string {
	return baseURL(r) + "/_emulator/executions/" + url.PathEscape(id)
}

// blobLocation is the JSON document GetAzureWriteUrl encodes into its string value.
type blobLocation struct {
	BlobID  string `json:"BlobId"`
	BlobURL string `json:"BlobUrl"`
}

func (e *Emulator) actionWriteURL(w http.ResponseWriter, r *http.Request, a args) {
	name := strings.TrimSpace(a.str("uniqueFileName"))
	if name == "" {
		writeODataError(w, http.StatusBadRequest, "", "The uniqueFileName parameter must not be empty.")
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(blobLocation{
		BlobID:  "{" + strings.ToUpper(newGUID()) + "}",
		BlobURL: e.sasURL(baseURL(r), name, "rw"),
	})
	writeValue(w, r, edmString, strings.TrimSpace(buf.String()))
}

func (e *Emulator) actionStatus(w http.ResponseWriter, r *http.Request, a args) {
	e.checkStatusInterval(a.str("executionId"))
	if e.chance(e.CurrentFaults().Rate5xxOnStatus) {
		e.faulted.Add(1)
		status := http.StatusServiceUnavailable
		if e.chance(0.5) {
			status = http.StatusInternalServerError
		}
		writeODataError(w, status, "", "An error has occurred.")
		return
	}
	id := a.str("executionId")
	ex, ok := e.execution(id)
	if !ok {
		writeValue(w, r, edmString, StatusUnknown)
		return
	}
	ex.mu.Lock()
	notFound := ex.notFoundLeft > 0
	if notFound {
		ex.notFoundLeft--
	}
	status := ex.status
	ex.mu.Unlock()
	if notFound {
		writeODataError(w, http.StatusBadRequest, "", fmt.Sprintf("Execution details for execution ID '%s' were not found.", id))
		return
	}
	writeValue(w, r, edmString, status)
}

// actionErrors answers GetExecutionErrors: a JSON array of {RecordId, Field,
// ErrorMessage} serialised into the string value. The UnescapedErrors quirk embeds the
// messages without escaping, as one client reports F&O does.
func (e *Emulator) actionErrors(w http.ResponseWriter, r *http.Request, a args) {
	ex, ok := e.execution(a.str("executionId"))
	var errs []ExecutionError
	if ok {
		ex.mu.Lock()
		errs = append(errs, ex.errors...)
		ex.mu.Unlock()
	}
	var buf bytes.Buffer
	if e.cfg.Quirks.UnescapedErrors {
		buf.WriteByte('[')
		for i, x := range errs {
			if i > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"RecordId":"%s","Field":"%s","ErrorMessage":"%s"}`, x.RecordID, x.Field, x.ErrorMessage)
		}
		buf.WriteByte(']')
	} else {
		if errs == nil {
			errs = []ExecutionError{}
		}
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(errs)
	}
	writeValue(w, r, edmString, strings.TrimSpace(buf.String()))
}

// errorRun finds a finished execution's entity for the error-file actions.
func (e *Emulator) errorRun(a args) (*execution, *entityRun) {
	ex, ok := e.execution(a.str("executionId"))
	if !ok || ex.kind != KindImport || !isTerminal(ex.currentStatus()) {
		return nil, nil
	}
	return ex, ex.entityRunByName(e.cat, a.str("entityName"))
}

// actionStagingErrorFile answers GetImportStagingErrorFileUrl: a CSV-Unicode file of the
// source rows that failed source-to-staging, or "".
func (e *Emulator) actionStagingErrorFile(w http.ResponseWriter, r *http.Request, a args) {
	ex, run := e.errorRun(a)
	if run == nil {
		writeValue(w, r, edmString, "")
		return
	}
	ex.mu.Lock()
	if run.stagingErrors == 0 {
		ex.mu.Unlock()
		writeValue(w, r, edmString, "")
		return
	}
	if run.stagingBlob == "" {
		var buf bytes.Buffer
		rows := run.stagingErrRows
		_ = writeCSVUnicode(&buf, run.header, func(write func([]string) error) error {
			for _, row := range rows {
				if err := write(row); err != nil {
					return err
				}
			}
			return nil
		})
		run.stagingBlob = "errors/" + ex.id + "/" + run.name + " staging errors.csv"
		e.blobs.put(run.stagingBlob, buf.Bytes(), "text/csv", e.now())
	}
	name := run.stagingBlob
	ex.mu.Unlock()
	writeValue(w, r, edmString, e.sasURL(baseURL(r), name, "r"))
}

// actionGenerateKeysFile answers GenerateImportTargetErrorKeysFile: true when rows failed
// staging-to-target, and then starts generating a CSV-Unicode file of their keys.
func (e *Emulator) actionGenerateKeysFile(w http.ResponseWriter, r *http.Request, a args) {
	ex, run := e.errorRun(a)
	if run == nil {
		writeValue(w, r, edmBoolean, false)
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if run.targetErr == 0 {
		writeValue(w, r, edmBoolean, false)
		return
	}
	if run.keysState == keysNone {
		var buf bytes.Buffer
		keys := sortedKeys(run.targetErrKeys)
		_ = writeCSVUnicode(&buf, run.ent.KeyFields, func(write func([]string) error) error {
			for _, k := range keys {
				if err := write(k); err != nil {
					return err
				}
			}
			return nil
		})
		run.keysBlob = "errors/" + ex.id + "/" + run.name + " target error keys.csv"
		e.blobs.put(run.keysBlob, buf.Bytes(), "text/csv", e.now())
		run.keysState = keysGenerating
	}
	writeValue(w, r, edmBoolean, true)
}

// sortedKeys orders entity keys as the staging table's key index does (case-insensitive
// key order), which is neither the order of the file nor that of the RecIds.
func sortedKeys(keys [][]string) [][]string {
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b []string) int {
		for i := range min(len(a), len(b)) {
			if c := strings.Compare(strings.ToUpper(a[i]), strings.ToUpper(b[i])); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(a), len(b))
	})
	return out
}

// actionKeysFileURL answers GetImportTargetErrorKeysFileUrl: "" until generated (the
// first call after GenerateImportTargetErrorKeysFile always finds it still generating),
// "" when there are no errors, then a SAS URL.
func (e *Emulator) actionKeysFileURL(w http.ResponseWriter, r *http.Request, a args) {
	ex, run := e.errorRun(a)
	if run == nil {
		writeValue(w, r, edmString, "")
		return
	}
	ex.mu.Lock()
	state, name := run.keysState, run.keysBlob
	if state == keysGenerating {
		run.keysState = keysReady
	}
	ex.mu.Unlock()
	if state != keysReady {
		writeValue(w, r, edmString, "")
		return
	}
	writeValue(w, r, edmString, e.sasURL(baseURL(r), name, "r"))
}

// deleteExecution removes an execution from the history, canceling it if it runs.
func (e *Emulator) deleteExecution(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := strings.ToUpper(strings.TrimSpace(id))
	ex, ok := e.executions[k]
	if !ok {
		return false
	}
	ex.cancel()
	delete(e.executions, k)
	e.execOrder = slices.DeleteFunc(e.execOrder, func(x *execution) bool { return x == ex })
	return true
}

// entityStatus mirrors RIS's EntityExecutionStatus contract; GetEntityExecutionSummaryStatusList
// answers a collection of them (the action is undocumented; this shape is the emulator's choice).
type entityStatus struct {
	EntityName                 string    `json:"EntityName"`
	Company                    string    `json:"Company"`
	StagingRecords             int64     `json:"StagingRecords"`
	StagingStatus              string    `json:"StagingStatus"`
	StagingErrorCount          int64     `json:"StagingErrorCount"`
	TargetRecords              int64     `json:"TargetRecords"`
	TargetStatus               string    `json:"TargetStatus"`
	TargetErrorCount           int64     `json:"TargetErrorCount"`
	ExecutionStartedDateTime   time.Time `json:"ExecutionStartedDateTime"`
	ExecutionCompletedDateTime time.Time `json:"ExecutionCompletedDateTime"`
}

func (ex *execution) entityStatuses() []entityStatus {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	out := []entityStatus{}
	for _, r := range ex.runs {
		out = append(out, entityStatus{
			EntityName: r.name, Company: ex.le,
			StagingRecords: r.staged - r.stagingErrors, StagingStatus: r.stagingStatus, StagingErrorCount: r.stagingErrors,
			TargetRecords: r.inserted + r.updated, TargetStatus: r.targetStatus, TargetErrorCount: r.targetErr,
			ExecutionStartedDateTime: nullDate(r.stagingStart), ExecutionCompletedDateTime: nullDate(laterOf(r.stagingEnd, r.targetEnd)),
		})
	}
	return out
}

func (e *Emulator) actionEntityStatusList(w http.ResponseWriter, r *http.Request, a args) {
	list := []entityStatus{}
	if ex, ok := e.execution(a.str("executionId")); ok {
		list = ex.entityStatuses()
	}
	writeValue(w, r, "Collection(Microsoft.Dynamics.DataEntities.EntityExecutionStatus)", list)
}

// nullDate maps the zero time to F&O's null date, 1900-01-01.
func nullDate(t time.Time) time.Time {
	if t.IsZero() {
		return time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t.UTC()
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkStatusInterval records a protocol violation for a status call of an execution that
// comes sooner than Config.MinStatusInterval after the previous one.
func (e *Emulator) checkStatusInterval(id string) {
	if e.cfg.MinStatusInterval <= 0 {
		return
	}
	now := e.now()
	key := strings.ToLower(id)
	e.mu.Lock()
	last, ok := e.lastStatus[key]
	e.lastStatus[key] = now
	e.mu.Unlock()
	if gap := now.Sub(last); ok && gap < e.cfg.MinStatusInterval {
		e.violation("GetExecutionSummaryStatus for %s %s after the previous one (at least %s expected)", id, gap.Round(time.Millisecond), e.cfg.MinStatusInterval)
	}
}
