package exports

import (
	"fmt"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/exports/pathtemplate"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// The pure decisions of the export stages, with table tests.

// ExecutionID is the DMF execution id of a package export's job:
// <project>-<job>-export-<nonce>. It is recorded before ExportToPackage is sent, so that a
// crashed or retried request asks F&O about it instead of starting a second export; the
// job's random nonce keeps it from repeating across databases (see imports.ExecutionID).
func ExecutionID(project string, job int64, nonce string) string {
	id := fmt.Sprintf("%s-%d-export", project, job)
	if nonce != "" {
		id += "-" + nonce
	}
	return id
}

// zeroGUID is what F&O answers in place of an id or a URL that does not exist yet.
const zeroGUID = "00000000-0000-0000-0000-000000000000"

// PackageURL reads a GetExportedPackageUrl answer: the URL, or false while the package is
// not ready. F&O answers "" (and, as some clients see it, the literal "”", or a zero
// GUID) until the package exists, even a little after the export reports Succeeded
// (dmf-api.md §2.5).
func PackageURL(v string) (string, bool) {
	u := strings.TrimSpace(v)
	u = strings.Trim(u, `"'`)
	u = strings.TrimSpace(u)
	if u == "" || strings.EqualFold(strings.Trim(u, "{}"), zeroGUID) {
		return "", false
	}
	return u, true
}

// Outcome is what an export that ended does next.
type Outcome int

const (
	// Deliver writes the package's files; the job succeeds.
	Deliver Outcome = iota
	// DeliverPartial writes them and the job ends partially succeeded.
	DeliverPartial
	// Fail writes nothing; the job fails.
	Fail
)

// ExportOutcome decides on an export's terminal status under the project's on_partial:
// Succeeded delivers; PartiallySucceeded delivers and flags the job (on_partial: deliver)
// or fails it (fail); Failed, Canceled and Unknown fail.
func ExportOutcome(st dmf.ExecutionStatus, onPartial string) Outcome {
	switch st {
	case dmf.StatusSucceeded:
		return Deliver
	case dmf.StatusPartiallySucceeded:
		if onPartial == config.OnPartialFail {
			return Fail
		}
		return DeliverPartial
	}
	return Fail
}

// Pending reports whether a status call's answer right after an export was sent means
// "not registered yet" rather than an end: a 400 "were not found", or Unknown, within
// the grace after the call (dmf-api.md §2.5, RIS#71).
func Pending(st dmf.ExecutionStatus, err error, sinceSubmit time.Duration) bool {
	if sinceSubmit >= notFoundGrace {
		return false
	}
	return dmf.IsExecutionNotFound(err) || (err == nil && st == dmf.StatusUnknown)
}

// notFoundGrace is how long after ExportToPackage a "not found" or Unknown status still
// means "not registered yet".
const notFoundGrace = 5 * time.Minute

// MessageAction is what a dequeued recurring message needs.
type MessageAction int

const (
	// Write downloads the message's file, writes it to the destination, then acks.
	Write MessageAction = iota
	// Ack acknowledges without writing: its file was written before (a redelivery, or a
	// crash between the write and the ack), or it has none and the project acks those.
	Ack
	// Leave records the message and leaves it unacknowledged (no file, on_no_file: skip).
	Leave
)

// NextForMessage decides on a message just dequeued, from its record (status as recorded
// before this dequeue, "" for a new one), whether it carries a file (a download location
// and IsDownLoadFileExist) and the project's on_no_file. It returns the action and the
// status to record.
func NextForMessage(status string, hasFile bool, onNoFile string) (MessageAction, string) {
	switch status {
	case jobhistory.MessageWritten, jobhistory.MessageAcked:
		// Written once: never again, whatever this dequeue carries.
		return Ack, status
	}
	if hasFile {
		return Write, jobhistory.MessageDequeued
	}
	if onNoFile == config.OnNoFileSkip {
		return Leave, jobhistory.MessageSkipped
	}
	return Ack, jobhistory.MessageNoFile
}

// Limits bound a data file's parts (config destination.split); 0 is no bound.
type Limits struct {
	Rows  int64
	Bytes int64
}

// Full reports whether a part holding rows data rows and bytes bytes (before compression)
// is full: the next row starts a new part. A part always takes at least one row.
func (l Limits) Full(rows, bytes int64) bool {
	if rows == 0 {
		return false
	}
	return (l.Rows > 0 && rows >= l.Rows) || (l.Bytes > 0 && bytes >= l.Bytes)
}

// Vars are the placeholder values of a run's files: {date} and {time} are when the job
// was created, in the project's time zone, the same for every attempt of its steps.
func Vars(p *Project, j *jobhistory.Job, unit string) pathtemplate.Vars {
	at := j.CreatedAt
	if p.Location != nil {
		at = at.In(p.Location)
	}
	company := p.LegalEntity
	if company == "" {
		company = j.LegalEntity
	}
	return pathtemplate.Vars{Date: at.Format("2006-01-02"), Time: at.Format("150405"), Project: p.Name,
		Execution: unit, Company: company}
}

// FileName renders a data file's name; with gzip, ".gz" is appended unless the template
// ends with it.
func FileName(t *pathtemplate.Template, v pathtemplate.Vars, gzip bool) (string, error) {
	name, err := t.Render(v)
	if err != nil {
		return "", err
	}
	if gzip && !strings.HasSuffix(strings.ToLower(name), ".gz") {
		name += ".gz"
	}
	return name, nil
}
