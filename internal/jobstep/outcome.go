package jobstep

import (
	"errors"
	"fmt"
	"time"

	"github.com/dmfpipe/dmfpipe/dmf"
)

// Attempt is which run of a step this is.
type Attempt struct {
	// N is the run, from 1; Max the last one the runner allows.
	N, Max int
}

// Last reports whether no run follows this one when it fails.
func (a Attempt) Last() bool { return a.N >= a.Max }

// SnoozeError asks the runner to run the step again after a while, without counting a
// failure: the step waits (for F&O, for a file to settle, for a node that knows the
// project).
type SnoozeError struct {
	After time.Duration
}

func (e *SnoozeError) Error() string { return fmt.Sprintf("waiting %s", e.After) }

// Snooze asks the runner to run the step again after d (at least 10ms).
func Snooze(d time.Duration) error { return &SnoozeError{After: max(d, 10*time.Millisecond)} }

// PermanentError is a failure that running the step again cannot cure; the runner drops
// the step (River cancels it). What it means for the job is already recorded.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent asks the runner to drop the step, failed with err.
func Permanent(err error) error { return &PermanentError{Err: err} }

// Refused reports whether err is an answer of F&O that retrying cannot change: a 4xx
// other than 408 (Request Timeout) and 429 (Too Many Requests).
func Refused(err error) bool {
	var he *dmf.HTTPError
	return errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 && he.StatusCode != 408 && he.StatusCode != 429
}

// StatusSeen is what a status call answered, for the execution's record.
func StatusSeen(st dmf.ExecutionStatus, err error) string {
	switch {
	case err == nil:
		return string(st)
	case dmf.IsExecutionNotFound(err):
		return "NotFound"
	}
	return ""
}
