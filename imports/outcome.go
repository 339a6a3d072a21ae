package imports

import (
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// JobCounts are a finished job's counts from its staged rows (read is the ingest's):
// notImported of the rejected rows were not rejected by F&O but not imported because
// their chunk failed (staging.Store.NotImported).
func JobCounts(read int64, c staging.Counts, notImported int64) jobhistory.JobCounts {
	byFO := c.Rejected - notImported
	return jobhistory.JobCounts{
		Read: read, Staged: c.Total, Invalid: c.Invalid,
		Uploaded: c.Uploaded + c.Imported + byFO, Imported: c.Imported, Rejected: byFO, NotImported: notImported,
		Skipped: c.Skipped,
	}
}

// Open counts the rows that wait for an operator: invalid by our rules, rejected (by F&O,
// or not imported because their chunk failed), or fixed and not yet sent again.
func Open(c staging.Counts) int64 { return c.Invalid + c.Rejected + c.Fixed }

// JobOutcome is how an import job ends, from its staged rows once every chunk has ended
// and the error recorded on the job (jobErr, "" for none): succeeded when every row was
// imported or set aside by an operator (skipped: handled, like an imported one), or
// there was none, and nothing failed the job; partially succeeded when some rows were
// imported and others wait for an operator; failed when nothing was imported and
// something is wrong (an error, or rows waiting).
//
// Rows still valid or uploaded (sent, with no verdict) cannot be left unaccounted: the
// finalize marks them not imported before it asks (see Stages.Finalize).
func JobOutcome(c staging.Counts, jobErr string) string {
	// Handled rows (imported, skipped) are all that is not open or in flight.
	open := Open(c) + c.Valid + c.Uploaded
	switch {
	case jobErr == "" && open == 0:
		return jobhistory.JobSucceeded
	case c.Imported > 0:
		return jobhistory.JobPartiallySucceeded
	}
	return jobhistory.JobFailed
}
