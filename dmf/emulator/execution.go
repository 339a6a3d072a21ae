package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// Execution summary statuses (enum DMFExecutionSummaryStatus, dmf-api.md §2.5).
const (
	StatusUnknown            = "Unknown"
	StatusNotRun             = "NotRun"
	StatusExecuting          = "Executing"
	StatusSucceeded          = "Succeeded"
	StatusPartiallySucceeded = "PartiallySucceeded"
	StatusFailed             = "Failed"
	StatusCanceled           = "Canceled"
)

// Per-entity staging and target statuses (enum DMFBatchJobStatus; its wire values are
// unconfirmed, these follow the DMF job history page).
const (
	entityNotRun    = "NotRun"
	entityExecuting = "Executing"
	entityFinished  = "Finished"
	entityError     = "Error"
	entityCanceled  = "Canceled"
)

// Execution kinds.
const (
	KindImport = "import"
	KindExport = "export"
)

// ExecutionInfo describes an execution for tests and the admin API.
type ExecutionInfo struct {
	ID              string       `json:"id"`
	Kind            string       `json:"kind"`
	DefinitionGroup string       `json:"definition_group"`
	LegalEntity     string       `json:"legal_entity"`
	Status          string       `json:"status"`
	PackageURL      string       `json:"package_url,omitempty"`
	MessageID       string       `json:"message_id,omitempty"`
	Execute         bool         `json:"execute"`
	Created         time.Time    `json:"created"`
	Started         time.Time    `json:"started"`
	Finished        time.Time    `json:"finished"`
	Entities        []EntityInfo `json:"entities"`
	// ErrorCount counts GetExecutionErrors entries; Errors holds the first 100.
	ErrorCount int              `json:"error_count"`
	Errors     []ExecutionError `json:"errors"`
}

// EntityInfo is one entity of an execution.
type EntityInfo struct {
	Entity        string `json:"entity"`
	StagingStatus string `json:"staging_status"`
	TargetStatus  string `json:"target_status"`
	Staged        int64  `json:"staged"`
	StagingErrors int64  `json:"staging_errors"`
	Inserted      int64  `json:"inserted"`
	Updated       int64  `json:"updated"`
	TargetErrors  int64  `json:"target_errors"`
	Error         string `json:"error,omitempty"`
}

// ExecutionError is one GetExecutionErrors entry.
type ExecutionError struct {
	RecordID     string `json:"RecordId"`
	Field        string `json:"Field"`
	ErrorMessage string `json:"ErrorMessage"`
}

type keysFileState int

const (
	keysNone       keysFileState = iota
	keysGenerating               // the next GetImportTargetErrorKeysFileUrl answers "" once
	keysReady
)

// execution is one DMF job run (import, export or recurring message).
type execution struct {
	id, group, le string
	kind          string
	packageURL    string
	execute       bool
	created       time.Time
	messageID     string
	ctx           context.Context
	cancel        context.CancelFunc
	staged        chan struct{} // closed when staging is over (sync ImportFromPackage waits)
	stagedOnce    sync.Once

	mu             sync.Mutex
	status         string
	started        time.Time
	finished       time.Time
	runs           []*entityRun
	errors         []ExecutionError
	errorCount     int
	notFoundLeft   int
	failConcurrent bool
	trackedStaging bool // counted in Emulator.activeStaging until staged
	// export
	exportBlob        string
	exportPolled      bool
	urlNotReadyLeft   int // Faults.ExportURLNotReady still to answer
	urlNotReadyServed int
}

// entityRun is one entity of an execution, with its counts and error files.
type entityRun struct {
	me   *manifestEntity // import: the manifest entry
	ent  *catalog.Entity
	name string // DMF label (or the unresolved name of an export project)

	stagingStatus, targetStatus  string
	stagingStart, stagingEnd     time.Time
	targetStart, targetEnd       time.Time
	staged, stagingErrors        int64
	inserted, updated, targetErr int64
	fatal                        string

	header         []string
	stagingErrRows [][]string
	stagingBlob    string
	targetErrKeys  [][]string
	keysState      keysFileState
	keysBlob       string
}

func (e *Emulator) newExecution(id, group, le, kind string) *execution {
	ctx, cancel := context.WithCancel(e.ctx)
	ex := &execution{
		id: id, group: group, le: le, kind: kind, created: e.now(),
		ctx: ctx, cancel: cancel, staged: make(chan struct{}), status: StatusNotRun,
		notFoundLeft: e.CurrentFaults().NotFoundAfterImport,
	}
	return ex
}

// registerLocked stores an execution; the caller holds e.mu.
func (e *Emulator) registerLocked(ex *execution) {
	e.executions[strings.ToUpper(ex.id)] = ex
	e.execOrder = append(e.execOrder, ex)
	e.executionsN.Add(1)
}

func (e *Emulator) execution(id string) (*execution, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ex, ok := e.executions[strings.ToUpper(strings.TrimSpace(id))]
	return ex, ok
}

// generatedExecutionID is F&O's server-side ID: {group}-{yyyy-MM-ddTHH:mm:ss}-{32 hex}.
func (e *Emulator) generatedExecutionID(group string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return group + "-" + e.now().UTC().Format("2006-01-02T15:04:05") + "-" + strings.ToUpper(hex.EncodeToString(b))
}

func (ex *execution) setStatus(s string, now time.Time) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.status = s
	switch s {
	case StatusExecuting:
		ex.started = now
	case StatusSucceeded, StatusPartiallySucceeded, StatusFailed, StatusCanceled:
		ex.finished = now
	}
}

func (ex *execution) currentStatus() string {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.status
}

func isTerminal(s string) bool {
	switch s {
	case StatusSucceeded, StatusPartiallySucceeded, StatusFailed, StatusCanceled, StatusUnknown:
		return true
	}
	return false
}

// addErrors appends entries in order; dropped counts entries beyond the cap that were
// not kept.
func (ex *execution) addErrors(list []ExecutionError, dropped int) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.errorCount += len(list) + dropped
	keep := min(len(list), max(0, maxErrorsPerExecution-len(ex.errors)))
	ex.errors = append(ex.errors, list[:keep]...)
}

func (ex *execution) addError(recordID, field, msg string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.errorCount++
	if len(ex.errors) < maxErrorsPerExecution {
		ex.errors = append(ex.errors, ExecutionError{RecordID: recordID, Field: field, ErrorMessage: msg})
	}
}

// pause waits d unless the execution is canceled first; it reports whether to go on.
func (ex *execution) pause(d time.Duration) bool {
	if d <= 0 {
		return ex.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ex.ctx.Done():
		return false
	}
}

// outcome computes the terminal status from the entity counts, as F&O does: no errors is
// Succeeded, errors with nothing written is Failed, otherwise PartiallySucceeded.
func (ex *execution) outcome() string {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	var ok, bad int64
	for _, r := range ex.runs {
		if r.fatal != "" {
			bad++
		}
		bad += r.stagingErrors + r.targetErr
		if ex.kind == KindImport && ex.execute {
			ok += r.inserted + r.updated
		} else {
			ok += r.staged - r.stagingErrors
		}
	}
	switch {
	case ex.errorCount > 0 && bad == 0:
		return StatusFailed // execution-level failure (e.g. concurrent import)
	case bad == 0:
		return StatusSucceeded
	case ok == 0:
		return StatusFailed
	default:
		return StatusPartiallySucceeded
	}
}

func (ex *execution) info() ExecutionInfo {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	info := ExecutionInfo{
		ID: ex.id, Kind: ex.kind, DefinitionGroup: ex.group, LegalEntity: ex.le, Status: ex.status,
		PackageURL: ex.packageURL, MessageID: ex.messageID, Execute: ex.execute,
		Created: ex.created, Started: ex.started, Finished: ex.finished,
		ErrorCount: ex.errorCount, Errors: append([]ExecutionError{}, ex.errors[:min(100, len(ex.errors))]...),
		Entities: []EntityInfo{},
	}
	for _, r := range ex.runs {
		info.Entities = append(info.Entities, EntityInfo{
			Entity: r.name, StagingStatus: r.stagingStatus, TargetStatus: r.targetStatus,
			Staged: r.staged, StagingErrors: r.stagingErrors, Inserted: r.inserted, Updated: r.updated,
			TargetErrors: r.targetErr, Error: r.fatal,
		})
	}
	return info
}

// Execution returns an execution by ID (case-insensitive).
func (e *Emulator) Execution(id string) (ExecutionInfo, bool) {
	ex, ok := e.execution(id)
	if !ok {
		return ExecutionInfo{}, false
	}
	return ex.info(), true
}

// Executions lists every execution in creation order.
func (e *Emulator) Executions() []ExecutionInfo {
	e.mu.Lock()
	list := append([]*execution{}, e.execOrder...)
	e.mu.Unlock()
	out := make([]ExecutionInfo, 0, len(list))
	for _, ex := range list {
		out = append(out, ex.info())
	}
	return out
}

// CancelExecution stops a running execution; it ends Canceled. It reports false when
// the execution does not exist or has already finished.
func (e *Emulator) CancelExecution(id string) bool {
	ex, ok := e.execution(id)
	if !ok || isTerminal(ex.currentStatus()) {
		return false
	}
	ex.cancel()
	return true
}

// groupLock serialises executions of one definition group.
func (e *Emulator) groupLock(group string) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := strings.ToUpper(group)
	l, ok := e.groupLocks[k]
	if !ok {
		l = &sync.Mutex{}
		e.groupLocks[k] = l
	}
	return l
}

// entityRunByName finds an execution's entity by DMF label or any catalog name.
func (ex *execution) entityRunByName(cat *catalog.Catalog, name string) *entityRun {
	ent, _ := cat.Lookup(name)
	for _, r := range ex.runs {
		if strings.EqualFold(r.name, strings.TrimSpace(name)) || ent != nil && r.ent == ent {
			return r
		}
	}
	return nil
}
