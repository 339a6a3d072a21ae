package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// TriggerRun is the trigger of a job started from the CLI's `run`.
const TriggerRun = "run"

// StartJob records and enqueues a job per file of project, as `pipeline run` does. files
// are paths in the project's source connection, absolute or relative to source.path;
// none means every file the source lists now for the project's pattern (without waiting
// for files to settle: the caller says they are complete). Files already taken are
// skipped unless force, which also imports content already imported. It returns the ids
// of the jobs started.
func (w *Worker) StartJob(ctx context.Context, project string, files []string, trigger string, force bool) ([]int64, error) {
	p, err := w.project(project)
	if err != nil {
		return nil, err
	}
	if trigger == "" {
		trigger = TriggerRun
	}
	src, err := w.openSource(ctx, p)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var infos []ingest.FileInfo
	if len(files) == 0 {
		if infos, err = src.List(ctx, p.Source.Path, listPattern(p.Source)); err != nil {
			return nil, fmt.Errorf("listing the source of project %s: %w", p.Name, err)
		}
	}
	for _, f := range files {
		name := f
		if !strings.HasPrefix(f, "/") {
			name = path.Join(p.Source.Path, f)
		}
		fi, err := src.Stat(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", p.Name, err)
		}
		infos = append(infos, fi)
	}
	var ids []int64
	for _, fi := range infos {
		id, started, err := w.startFile(ctx, p, fi, trigger, time.Time{}, force)
		if err != nil {
			return ids, err
		}
		if started {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// JobSummary is where a job stands.
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

// waitInterval is how often WaitJob reads the job.
const waitInterval = 200 * time.Millisecond

// Summary returns where a job stands.
func (w *Worker) Summary(ctx context.Context, id int64) (JobSummary, error) {
	j, err := history(w.pool).Job(ctx, id)
	if err != nil {
		return JobSummary{}, err
	}
	s := JobSummary{ID: j.ID, Project: j.Project, Status: j.Status, Stage: j.Stage, Counts: j.Counts,
		Chunks: j.ChunksTotal, Error: j.Error}
	if !s.Done() && j.ChunksTotal > 0 {
		// While chunks are in flight the job row has no upload counts yet: take them from
		// the chunks (rows of ended chunks count as imported until finalize splits them).
		err := w.pool.QueryRow(ctx, `
SELECT coalesce(sum(row_count) FILTER (WHERE status NOT IN ('pending', 'uploading')), 0),
       coalesce(sum(row_count) FILTER (WHERE status IN ('succeeded', 'partially_succeeded', 'failed', 'canceled')), 0)
FROM chunks WHERE job_id = $1`, id).Scan(&s.Counts.Uploaded, &s.Counts.Imported)
		if err != nil {
			return s, fmt.Errorf("reading the chunks of job %d: %w", id, err)
		}
	}
	switch {
	case !j.FinishedAt.IsZero():
		s.Duration = j.FinishedAt.Sub(j.CreatedAt)
	default:
		s.Duration = w.now().Sub(j.CreatedAt)
	}
	if j.SourceFileID != 0 {
		e, err := jobhistory.NewLedger(w.pool).Get(ctx, j.SourceFileID)
		if err != nil {
			return s, err
		}
		s.File = e.File.Name
	}
	return s, nil
}

// WaitJob waits until a job has ended (or ctx ends, or this node loses its liveness lock:
// ErrLivenessLost) and returns its summary.
func (w *Worker) WaitJob(ctx context.Context, id int64) (JobSummary, error) {
	t := time.NewTicker(waitInterval)
	defer t.Stop()
	for {
		s, err := w.Summary(ctx, id)
		if err != nil || s.Done() {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, errors.Join(fmt.Errorf("waiting for job %d", id), ctx.Err())
		case <-w.lost:
			return s, fmt.Errorf("waiting for job %d: %w", id, ErrLivenessLost)
		case <-t.C:
		}
	}
}
