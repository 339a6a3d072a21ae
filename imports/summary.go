package imports

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// JobSummary is where a job stands, for `run`'s progress and summary.
type JobSummary struct {
	ID       int64                `json:"job"`
	Project  string               `json:"project"`
	Status   string               `json:"status"`
	Stage    string               `json:"stage"`
	File     string               `json:"file"`
	Counts   jobhistory.JobCounts `json:"counts"`
	Chunks   int                  `json:"chunks"`
	Error    string               `json:"error,omitempty"`
	Duration time.Duration        `json:"-"`
}

// MarshalJSON writes the duration in seconds.
func (s JobSummary) MarshalJSON() ([]byte, error) {
	type plain JobSummary
	return json.Marshal(struct {
		plain
		Seconds float64 `json:"duration_seconds"`
	}{plain(s), s.Duration.Seconds()})
}

// Done reports whether the job has ended.
func (s JobSummary) Done() bool { return jobhistory.JobTerminal(s.Status) }

// Summary returns where a job stands.
func (s *Stages) Summary(ctx context.Context, id int64) (JobSummary, error) {
	hist := s.hist(s.d.DB)
	j, err := hist.Job(ctx, id)
	if err != nil {
		return JobSummary{}, err
	}
	sum := JobSummary{ID: j.ID, Project: j.Project, Status: j.Status, Stage: j.Stage, Counts: j.Counts,
		Chunks: j.ChunksTotal, Error: j.Error}
	if !sum.Done() && j.ChunksTotal > 0 {
		// While chunks are in flight the job row has no upload counts yet: take them from
		// the chunks (rows of ended chunks count as imported until finalize splits them).
		if sum.Counts.Uploaded, sum.Counts.Imported, err = hist.ChunkProgress(ctx, id); err != nil {
			return sum, err
		}
	}
	if !j.FinishedAt.IsZero() {
		sum.Duration = j.FinishedAt.Sub(j.CreatedAt)
	} else {
		sum.Duration = s.d.Now().Sub(j.CreatedAt)
	}
	if j.SourceFileID != 0 {
		e, err := jobhistory.NewLedger(s.d.DB).Get(ctx, j.SourceFileID)
		if err != nil {
			return sum, err
		}
		sum.File = e.File.Name
	}
	return sum, nil
}

// EventsSince returns the events of a job's timeline after the one with id after, for a
// follower of the job (`run` shows the warnings as they come).
func (s *Stages) EventsSince(ctx context.Context, job, after int64) ([]jobhistory.Event, error) {
	return s.hist(s.d.DB).EventsSince(ctx, job, after)
}
