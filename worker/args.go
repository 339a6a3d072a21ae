package worker

import (
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/dmfpipe/dmfpipe/internal/backoff"
)

// The River queues of the import stages (scheduler.Queue holds the discover jobs).
const (
	QueueIngest   = "ingest"
	QueueUpload   = "upload"
	QueuePoll     = "poll"
	QueueFinalize = "finalize"
	QueueNotify   = "notify"
	// QueueMaintenance holds the cluster's housekeeping (PurgeArgs, SweepArgs).
	QueueMaintenance = "maintenance"
)

// stage is one stage's River settings.
type stage struct {
	// queue is the cluster's queue of the stage's jobs.
	queue string
	// timeout bounds one attempt of a job.
	timeout time.Duration
	// maxAttempts is how many times a failing job runs before it is discarded.
	maxAttempts int
	// retry is the wait after a failed attempt: doubling from the first up to the last,
	// spread by 10% so that jobs failed together do not all come back at once.
	retry backoff.Policy
	// unique is which of the stage's jobs with the same arguments are one.
	unique river.UniqueOpts
}

// retryAfter is a stage's retry policy: first, doubling up to most.
func retryAfter(first, most time.Duration) backoff.Policy {
	return backoff.Policy{Initial: first, Max: most, Multiplier: 2, Jitter: 0.1}
}

// uniqueUnfinished makes a job unique among those not yet finished: a stage re-offered
// while its job waits or runs is inserted once, and may run again after it finished.
var uniqueUnfinished = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}}

// uniqueEver makes a job unique in every state: it runs once. The last two chunks of a
// job may end at once and both offer the finalize; a job is notified once.
var uniqueEver = river.UniqueOpts{ByArgs: true, ByState: rivertype.JobStates()}

// The stages' settings. Ingest streams whole files (a million rows is minutes, a
// slow SFTP server more), upload waits for ImportFromPackage (up to the dmf client's
// 30-minute long request timeout, retries included) and the blob upload; poll and
// finalize make a handful of calls. The River client's rescue window (rescueAfter)
// must be longer than the longest timeout.
var (
	stageDiscover    = stage{timeout: 10 * time.Minute, maxAttempts: 5, retry: retryAfter(10*time.Second, 5*time.Minute)}
	stageIngest      = stage{queue: QueueIngest, timeout: 6 * time.Hour, maxAttempts: 5, retry: retryAfter(30*time.Second, 15*time.Minute), unique: uniqueUnfinished}
	stageUpload      = stage{queue: QueueUpload, timeout: 2 * time.Hour, maxAttempts: 10, retry: retryAfter(15*time.Second, 15*time.Minute), unique: uniqueUnfinished}
	stagePoll        = stage{queue: QueuePoll, timeout: 30 * time.Minute, maxAttempts: 20, retry: retryAfter(10*time.Second, 10*time.Minute), unique: uniqueUnfinished}
	stageFinalize    = stage{queue: QueueFinalize, timeout: 30 * time.Minute, maxAttempts: 10, retry: retryAfter(10*time.Second, 10*time.Minute), unique: uniqueEver}
	stageNotify      = stage{queue: QueueNotify, timeout: 5 * time.Minute, maxAttempts: 8, retry: retryAfter(30*time.Second, 30*time.Minute), unique: uniqueEver}
	stageMaintenance = stage{queue: QueueMaintenance, timeout: 30 * time.Minute, maxAttempts: 3, retry: retryAfter(time.Minute, 10*time.Minute), unique: uniqueUnfinished}
)

// rescueAfter is how long a running job may go before River takes it for stuck and
// runs it again elsewhere: longer than the longest stage timeout.
const rescueAfter = 7 * time.Hour

// nextRetry is when a job that failed its attempt-th run is tried again.
func (s stage) nextRetry(attempt int) time.Time { return time.Now().Add(s.retry.Delay(attempt)) }

// opts are the insert options of the stage's jobs, in the cluster's queue.
func (s stage) opts() river.InsertOpts {
	return river.InsertOpts{Queue: s.queue, MaxAttempts: s.maxAttempts, UniqueOpts: s.unique}
}

// IngestArgs reads a job's file into staging and plans its chunks.
type IngestArgs struct {
	JobID int64 `json:"job_id" river:"unique"`
}

// UploadArgs sends one chunk of a job to F&O.
type UploadArgs struct {
	JobID   int64 `json:"job_id" river:"unique"`
	ChunkNo int   `json:"chunk_no" river:"unique"`
}

// PollArgs follows one DMF execution until it ends.
type PollArgs struct {
	ExecutionID string `json:"execution_id" river:"unique"`
}

// FinalizeArgs ends a job once every chunk has, once per attempt of the job.
type FinalizeArgs struct {
	JobID int64 `json:"job_id" river:"unique"`
	// Attempt is the job's attempt when it was sent again (2 and up), 0 for the first:
	// the first attempt's arguments are those of jobs from before attempts existed.
	Attempt int `json:"attempt,omitempty" river:"unique"`
}

// NotifyArgs tells a project's people how a job ended, once per attempt of the job.
type NotifyArgs struct {
	JobID   int64 `json:"job_id" river:"unique"`
	Attempt int   `json:"attempt,omitempty" river:"unique"`
}

// laterAttempt is a job attempt as its once-per-attempt steps name it: 0 for the first.
func laterAttempt(n int) int {
	if n <= 1 {
		return 0
	}
	return n
}

// Kind and InsertOpts implement river.JobArgs and river.JobArgsWithInsertOpts.

func (IngestArgs) Kind() string                   { return "dmfpipe.ingest" }
func (IngestArgs) InsertOpts() river.InsertOpts   { return stageIngest.opts() }
func (UploadArgs) Kind() string                   { return "dmfpipe.upload" }
func (UploadArgs) InsertOpts() river.InsertOpts   { return stageUpload.opts() }
func (PollArgs) Kind() string                     { return "dmfpipe.poll" }
func (PollArgs) InsertOpts() river.InsertOpts     { return stagePoll.opts() }
func (FinalizeArgs) Kind() string                 { return "dmfpipe.finalize" }
func (FinalizeArgs) InsertOpts() river.InsertOpts { return stageFinalize.opts() }
func (NotifyArgs) Kind() string                   { return "dmfpipe.notify" }
func (NotifyArgs) InsertOpts() river.InsertOpts   { return stageNotify.opts() }
