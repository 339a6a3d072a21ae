package notify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Status is how a job ended.
type Status string

// The outcomes of a job.
const (
	StatusSucceeded          Status = "succeeded"
	StatusPartiallySucceeded Status = "partially_succeeded"
	StatusFailed             Status = "failed"
	// StatusSkipped: nothing was imported and nothing needed to be, e.g. a file whose
	// content was already imported.
	StatusSkipped Status = "skipped"
)

// label is the status as people read it.
func (s Status) label() string {
	switch s {
	case StatusPartiallySucceeded:
		return "partially succeeded"
	case "":
		return "unknown"
	}
	return string(s)
}

// The outcomes a project can ask to hear about (config notify.on).
const (
	OnFailure = "failure"
	OnPartial = "partial"
	OnSuccess = "success"
)

// DefaultOn is what notifies when a project's notify.on is empty.
var DefaultOn = []string{OnFailure, OnPartial}

// ShouldNotify reports whether a job that ended with status notifies a project whose
// notify.on is on (empty means [DefaultOn]). Failed jobs are "failure", partially succeeded
// ones "partial", and succeeded and skipped ones "success": a skip needs no one, like a
// success.
func ShouldNotify(on []string, status Status) bool {
	if len(on) == 0 {
		on = DefaultOn
	}
	switch status {
	case StatusFailed:
		return slices.Contains(on, OnFailure)
	case StatusPartiallySucceeded:
		return slices.Contains(on, OnPartial)
	case StatusSucceeded, StatusSkipped:
		return slices.Contains(on, OnSuccess)
	}
	return false
}

// Counts are a job's rows at each stage.
type Counts struct {
	// Read is the number of records read from the file.
	Read int64
	// Staged is the number of rows written to staging.
	Staged int64
	// Invalid is the number of rows our rules rejected; they wait in staging.
	Invalid int64
	// Uploaded is the number of rows sent to F&O.
	Uploaded int64
	// Imported is the number of rows F&O imported.
	Imported int64
	// Rejected is the number of rows F&O rejected; they wait in staging.
	Rejected int64
}

// RowError is one problem with one row, located in the source file and in the entity.
type RowError struct {
	// Line is where the record starts in the source file (1-based); for XLSX, the sheet row.
	Line int64
	// Sheet is the XLSX sheet name, empty for text formats.
	Sheet string
	// Column is the source column, when one applies.
	Column string
	// Field is the entity field, when one applies.
	Field string
	// Rule names the check that failed ("required", "unique", "fo" for F&O's own errors...).
	Rule string
	// Message says what is wrong.
	Message string
}

// location is where the error is, as people read it: "line 12", "sheet Customers row 3".
func (e RowError) location() string {
	switch {
	case e.Sheet != "" && e.Line > 0:
		return fmt.Sprintf("sheet %s row %d", e.Sheet, e.Line)
	case e.Line > 0:
		return "line " + strconv.FormatInt(e.Line, 10)
	}
	return ""
}

// Job is the summary of a finished job that a notification carries.
type Job struct {
	Project string
	ID      int64
	// Trigger is what started the job: schedule, run, run-now, resubmit...
	Trigger string
	Status  Status
	// File is the source file's name (its path in the connection).
	File   string
	Counts Counts
	// Chunks is the number of packages the valid rows were cut into.
	Chunks   int
	Started  time.Time
	Duration time.Duration
	// Errors are the job's first row errors (the caller picks how many; ten is plenty
	// for a mail).
	Errors []RowError
	// Error says why a failed job failed, or why a job was skipped.
	Error string
	// ConsoleURL is the console's public base URL (config console.base_url). When set the
	// notification links to the job in the console (see Link); when empty there is no link.
	ConsoleURL string
	// Export is what an export job wrote; nil for an import job.
	Export *Export
}

// Link returns the job's page in the console, or "" when there is no console URL: its
// error view (ConsoleURL/jobs/ID/errors, the rows that wait for an operator, grouped by
// field and rule) when rows wait, else its page (ConsoleURL/jobs/ID).
func (j Job) Link() string {
	if j.ConsoleURL == "" {
		return ""
	}
	link := strings.TrimRight(j.ConsoleURL, "/") + "/jobs/" + strconv.FormatInt(j.ID, 10)
	if j.RowsWaiting() > 0 {
		link += "/errors"
	}
	return link
}

// RowsWaiting is the number of rows left in staging for an operator: invalid by our
// rules or rejected by F&O.
func (j Job) RowsWaiting() int64 { return j.Counts.Invalid + j.Counts.Rejected }

// Subject is the one-line summary used as the mail subject and the card title, e.g.
// "[dmfpipe] customers-nightly: partially succeeded (7 rows invalid, 5 rejected by F&O)".
func (j Job) Subject() string {
	s := "[dmfpipe] " + j.Project + ": " + j.Status.label()
	if j.Export != nil {
		return s + j.Export.subject(j.Status)
	}
	switch j.Status {
	case StatusSucceeded:
		s += " (" + rows(j.Counts.Imported) + " imported)"
	case StatusPartiallySucceeded:
		switch c := j.Counts; {
		case c.Invalid > 0 && c.Rejected > 0:
			s += " (" + rows(c.Invalid) + " invalid, " + count(c.Rejected) + " rejected by F&O)"
		case c.Invalid > 0:
			s += " (" + rows(c.Invalid) + " invalid)"
		case c.Rejected > 0:
			s += " (" + rows(c.Rejected) + " rejected by F&O)"
		}
	}
	return s
}

// rows is "1 row" or "12,345 rows".
func rows(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return count(n) + " rows"
}

// count writes n with thousands separators: 1234567 -> "1,234,567".
func count(n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}
