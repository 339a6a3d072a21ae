package exports

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Summary is where an export job stands, for `pipeline export`'s progress and summary,
// and the notification.
type Summary struct {
	ID      int64  `json:"job"`
	Project string `json:"project"`
	Status  string `json:"status"`
	Stage   string `json:"stage"`
	// Execution is a package export's DMF execution and its last status.
	Execution string `json:"execution,omitempty"`
	DMFStatus string `json:"dmf_status,omitempty"`
	// Rows counts the data rows written so far.
	Rows  int64         `json:"rows"`
	Files []FileSummary `json:"files"`
	// Messages are a recurring export's messages, in dequeue order.
	Messages []MessageSummary `json:"messages,omitempty"`
	Error    string           `json:"error,omitempty"`
	Duration time.Duration    `json:"-"`
}

// FileSummary is a file written.
type FileSummary struct {
	Kind   string `json:"kind"`
	Path   string `json:"path"`
	Entity string `json:"entity,omitempty"`
	Part   int    `json:"part,omitempty"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// MessageSummary is a recurring message of the job.
type MessageSummary struct {
	CorrelationID string `json:"correlation_id"`
	Status        string `json:"status"`
	Dequeues      int    `json:"dequeues"`
	Rows          int64  `json:"rows"`
	Files         int    `json:"files"`
	Error         string `json:"error,omitempty"`
}

// MarshalJSON writes the duration in seconds.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary
	return json.Marshal(struct {
		plain
		Seconds float64 `json:"duration_seconds"`
	}{plain(s), s.Duration.Seconds()})
}

// Done reports whether the job has ended.
func (s Summary) Done() bool { return jobhistory.JobTerminal(s.Status) }

// DataFiles counts the data files written.
func (s Summary) DataFiles() int {
	n := 0
	for _, f := range s.Files {
		if f.Kind == jobhistory.ExportData {
			n++
		}
	}
	return n
}

// Summary returns where an export job stands.
func (s *Stages) Summary(ctx context.Context, id int64) (Summary, error) {
	hist := s.hist(s.d.DB)
	j, err := hist.Job(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{ID: j.ID, Project: j.Project, Status: j.Status, Stage: j.Stage, Error: j.Error, Files: []FileSummary{}}
	files, err := hist.ExportFiles(ctx, id, "")
	if err != nil {
		return sum, err
	}
	for _, f := range files {
		sum.Files = append(sum.Files, FileSummary{Kind: f.Kind, Path: f.Connection + ":" + f.Path, Entity: f.Entity, Part: f.Part,
			Rows: f.Rows, Bytes: f.Bytes, SHA256: hex.EncodeToString(f.SHA256)})
		if f.Kind == jobhistory.ExportData {
			sum.Rows += f.Rows
		}
	}
	if ex, ok, err := hist.Execution(ctx, ExecutionID(j.Project, j.ID, j.ExecutionNonce)); err != nil {
		return sum, err
	} else if ok {
		sum.Execution, sum.DMFStatus = ex.ID, ex.DMFStatus
	}
	msgs, err := hist.JobMessages(ctx, id)
	if err != nil {
		return sum, err
	}
	for _, m := range msgs {
		sum.Messages = append(sum.Messages, MessageSummary{CorrelationID: m.CorrelationID, Status: m.Status, Dequeues: m.Dequeues,
			Rows: m.Rows, Files: m.Files, Error: m.Error})
	}
	end := j.FinishedAt
	if end.IsZero() {
		end = s.d.Now()
	}
	sum.Duration = end.Sub(j.CreatedAt)
	return sum, nil
}
