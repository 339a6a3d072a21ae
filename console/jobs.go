package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/dmfpipe/dmfpipe/explain"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
	"github.com/dmfpipe/dmfpipe/staging"
)

// jobsPageSize is how many jobs a page of the job list holds.
const jobsPageSize = 50

// jobsFilter is the job list's filter, as in its URL.
type jobsFilter struct {
	Project string `json:"project,omitempty"`
	Status  string `json:"status,omitempty"`
	Trigger string `json:"trigger,omitempty"`
	// From and To are dates (YYYY-MM-DD, the server's time zone): jobs created from the
	// start of From to the end of To.
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Before int64  `json:"before,omitempty"`
}

func (f jobsFilter) query(before int64) string {
	q := url.Values{}
	for k, v := range map[string]string{"project": f.Project, "status": f.Status, "trigger": f.Trigger, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	return q.Encode()
}

type jobsPage struct {
	Filter   jobsFilter    `json:"filter"`
	Jobs     []jobListItem `json:"jobs"`
	NextURL  string        `json:"next,omitempty"`
	Projects []string      `json:"-"`
	Statuses []string      `json:"-"`
	Triggers []string      `json:"-"`
	// Live is set while a listed job runs: the page refreshes itself.
	Live bool `json:"-"`
}

// jobListItem is a job of the list, with its progress.
type jobListItem struct {
	ID       int64                `json:"id"`
	Project  string               `json:"project"`
	Trigger  string               `json:"trigger"`
	Status   string               `json:"status"`
	Stage    string               `json:"stage"`
	File     string               `json:"file,omitempty"`
	Counts   jobhistory.JobCounts `json:"counts"`
	Chunks   int                  `json:"chunks"`
	Attempt  int                  `json:"attempt"`
	Error    string               `json:"error,omitempty"`
	Created  time.Time            `json:"created_at"`
	Finished time.Time            `json:"finished_at,omitzero"`
	// Progress is the share of the staged rows F&O has judged (0-100), while it runs.
	Progress int  `json:"progress"`
	Running  bool `json:"running"`
	// Waiting is how many rows wait for an operator.
	Waiting int64 `json:"waiting"`
}

func newJobListItem(j *jobhistory.Job, file string) jobListItem {
	it := jobListItem{ID: j.ID, Project: j.Project, Trigger: j.Trigger, Status: j.Status, Stage: j.Stage, File: file,
		Counts: j.Counts, Chunks: j.ChunksTotal, Attempt: j.Attempt, Error: j.Error, Created: j.CreatedAt, Finished: j.FinishedAt,
		Running: !jobhistory.JobTerminal(j.Status)}
	c := j.Counts
	if c.Staged > 0 {
		it.Progress = int(min(100, (c.Imported+c.Rejected+c.Skipped+c.Invalid)*100/c.Staged))
	}
	it.Waiting = c.Invalid + c.Rejected + c.NotImported
	return it
}

func (c *Console) jobsView(r *http.Request) (any, error) {
	q := r.URL.Query()
	f := jobsFilter{Project: q.Get("project"), Status: q.Get("status"), Trigger: q.Get("trigger"), From: q.Get("from"), To: q.Get("to")}
	jf := jobhistory.JobFilter{Project: f.Project, Status: f.Status, Trigger: f.Trigger, Limit: jobsPageSize}
	if f.Status != "" && !slices.Contains(jobhistory.JobStatuses(), f.Status) {
		return nil, badRequestf("unknown status %q", f.Status)
	}
	var err error
	if jf.CreatedFrom, err = parseDay("from", f.From); err != nil {
		return nil, err
	}
	if jf.CreatedBefore, err = parseDay("to", f.To); err != nil {
		return nil, err
	}
	if !jf.CreatedBefore.IsZero() {
		jf.CreatedBefore = jf.CreatedBefore.AddDate(0, 0, 1)
	}
	if b := q.Get("before"); b != "" {
		if jf.Before, err = strconv.ParseInt(b, 10, 64); err != nil {
			return nil, badRequestf("before %q is not a job number", b)
		}
		f.Before = jf.Before
	}
	list, next, err := jobhistory.NewStore(c.opts.Pool).ListJobs(r.Context(), jf)
	if err != nil {
		return nil, err
	}
	p := &jobsPage{Filter: f, Jobs: make([]jobListItem, 0, len(list)), Statuses: jobhistory.JobStatuses(),
		Triggers: []string{scheduler.TriggerSchedule, scheduler.TriggerRunNow, imports.TriggerRun}}
	for i := range list {
		it := newJobListItem(&list[i].Job, list[i].File)
		p.Live = p.Live || it.Running
		p.Jobs = append(p.Jobs, it)
	}
	if next != 0 {
		p.NextURL = "/jobs?" + f.query(next)
	}
	for _, pr := range c.cfg.Projects {
		p.Projects = append(p.Projects, pr.Name)
	}
	return p, nil
}

// parseDay reads a YYYY-MM-DD date of a filter, in the server's time zone.
func parseDay(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, v, time.Local)
	if err != nil {
		return time.Time{}, badRequestf("%s %q is not a date (YYYY-MM-DD)", name, v)
	}
	return t, nil
}

// jobPage is a job with everything about it.
type jobPage struct {
	jobListItem
	Environment string    `json:"environment"`
	LegalEntity string    `json:"legal_entity"`
	DryRun      bool      `json:"dry_run"`
	Started     time.Time `json:"started_at,omitzero"`
	// Staged are the job's staged rows by state; nil when none are (any more).
	Staged     *staging.Counts      `json:"staged,omitempty"`
	Open       int64                `json:"open"`
	Chunks     []chunkView          `json:"chunks"`
	Executions []executionView      `json:"executions"`
	Events     []eventView          `json:"events"`
	Audit      []auditView          `json:"audit"`
	Attempts   []jobhistory.Attempt `json:"attempts"`
	// Download is set when the job has a source file to download.
	Download  bool `json:"source_download"`
	CanRetry  bool `json:"can_retry"`
	CanCancel bool `json:"can_cancel"`
	// CanResubmit is set for an ended job with fixed rows.
	CanResubmit bool `json:"can_resubmit"`
}

type chunkView struct {
	No       int    `json:"no"`
	Lane     int    `json:"lane"`
	FirstRow int64  `json:"first_row"`
	LastRow  int64  `json:"last_row"`
	Rows     int    `json:"rows"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	// Error is what F&O (or the upload) said for the chunk without naming a row, with
	// its explanation.
	Error       string               `json:"error,omitempty"`
	Explanation *explain.Explanation `json:"explanation,omitempty"`
}

type executionView struct {
	ID          string    `json:"id"`
	Chunk       int       `json:"chunk"`
	Attempt     int       `json:"attempt"`
	Group       string    `json:"definition_group"`
	LegalEntity string    `json:"legal_entity"`
	DMFStatus   string    `json:"dmf_status"`
	Polls       int       `json:"polls"`
	Submitted   time.Time `json:"submitted_at,omitzero"`
	Finished    time.Time `json:"finished_at,omitzero"`
	Error       string    `json:"error,omitempty"`
}

type eventView struct {
	At      time.Time `json:"at"`
	Stage   string    `json:"stage"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	Actor   string    `json:"actor,omitempty"`
}

// auditView is an entry of the audit trail, with its selection in words.
type auditView struct {
	jobhistory.Entry
	What string `json:"what"`
}

// maxAudit is how many audit entries the job page shows.
const maxAudit = 200

func (c *Console) jobView(r *http.Request) (any, error) {
	id, err := pathInt(r, "job")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	hist := jobhistory.NewStore(c.opts.Pool)
	j, err := hist.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	p := &jobPage{jobListItem: newJobListItem(j, ""), Environment: j.Environment, LegalEntity: j.LegalEntity, DryRun: j.DryRun,
		Started: j.StartedAt, Chunks: []chunkView{}, Executions: []executionView{}, Events: []eventView{}, Audit: []auditView{}}
	if j.SourceFileID != 0 {
		if e, err := jobhistory.NewLedger(c.opts.Pool).Get(ctx, j.SourceFileID); err == nil {
			p.File, p.Download = e.File.Name, true
			if e.MovedTo != "" {
				p.File = e.MovedTo
			}
		}
	}
	// While the job runs the page refreshes itself: it counts only the open rows then
	// (the index of the rows that wait), not the whole job (300 ms for a million rows).
	st := staging.NewStore(c.opts.Pool)
	count := st.Counts
	if p.Running {
		count = func(ctx context.Context, job int64) (staging.Counts, error) {
			return st.OpenCounts(ctx, job, countUpTo)
		}
	}
	if counts, err := count(ctx, id); err == nil {
		p.Open = imports.Open(counts)
		if !p.Running {
			p.Staged = &counts
		}
	} else if !errors.Is(err, staging.ErrNoJob) {
		return nil, err
	}
	chunks, err := hist.Chunks(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, ch := range chunks {
		cv := chunkView{No: ch.No, Lane: ch.Lane, FirstRow: ch.FirstRow, LastRow: ch.LastRow, Rows: ch.RowCount, Status: ch.Status,
			Attempts: ch.Attempts, Error: ch.Error}
		if ch.Error != "" {
			x := explain.Message(ch.Error)
			cv.Explanation = &x
		}
		p.Chunks = append(p.Chunks, cv)
	}
	execs, err := hist.Executions(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, e := range execs {
		p.Executions = append(p.Executions, executionView{ID: e.ID, Chunk: e.ChunkNo, Attempt: e.Attempt, Group: e.DefinitionGroup,
			LegalEntity: e.LegalEntity, DMFStatus: e.DMFStatus, Polls: e.Polls, Submitted: e.SubmittedAt, Finished: e.FinishedAt, Error: e.Error})
	}
	events, err := hist.Events(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		p.Events = append(p.Events, eventView{At: e.At, Stage: e.Stage, Level: e.Level, Message: e.Message, Actor: e.Actor})
	}
	entries, err := jobhistory.NewAudit(c.opts.Pool).JobEntries(ctx, id, 0, maxAudit)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		p.Audit = append(p.Audit, auditView{Entry: e, What: describeEntry(&e)})
	}
	if p.Attempts, err = hist.Attempts(ctx, id); err != nil {
		return nil, err
	}
	if p.Attempts == nil {
		p.Attempts = []jobhistory.Attempt{}
	}
	ended := jobhistory.JobTerminal(j.Status)
	sendable := j.Kind == "import" && !j.DryRun
	p.CanCancel = !ended
	p.CanRetry = sendable && (!ended || j.Counts.NotImported > 0)
	p.CanResubmit = sendable && ended && p.Staged != nil && (p.Staged.Fixed > 0 || p.Staged.Valid > 0)
	return p, nil
}

// source sends a job's source file, from where its connection still holds it (its
// archive or error folder after the job).
func (c *Console) source(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "job")
	if err != nil {
		c.failWith(w, r, err)
		return
	}
	ctx := r.Context()
	j, err := jobhistory.NewStore(c.opts.Pool).Job(ctx, id)
	if err != nil {
		c.failWith(w, r, err)
		return
	}
	if j.SourceFileID == 0 {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("job %d has no source file", id))
		return
	}
	e, err := jobhistory.NewLedger(c.opts.Pool).Get(ctx, j.SourceFileID)
	if err != nil {
		c.failWith(w, r, err)
		return
	}
	name := e.File.Name
	if e.MovedTo != "" {
		name = e.MovedTo
	}
	src, err := c.opts.App.Source(ctx, e.Connection)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("the source of job %d cannot be opened: %v", id, err))
		return
	}
	defer src.Close()
	f, err := src.Open(ctx, name)
	if errors.Is(err, ingest.ErrNotExist) {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("%s is no longer in connection %s", name, e.Connection))
		return
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	if _, err := io.Copy(w, f); err != nil {
		c.log.Warn("console: sending a source file", "job", id, "file", name, "err", err)
	}
}

// errorReport sends a job's full error report (one line per open error: row, line,
// status, column, field, rule, message, value, source value) as CSV, or as an XLSX
// workbook with format=xlsx: what to hand to the people who own the data.
func (c *Console) errorReport(w http.ResponseWriter, r *http.Request) {
	id, err := pathInt(r, "job")
	if err != nil {
		c.failWith(w, r, err)
		return
	}
	st := staging.NewStore(c.opts.Pool)
	if _, err := st.Layout(r.Context(), id); err != nil {
		c.failWith(w, r, err)
		return
	}
	write, ext, ctype := st.WriteErrorReportCSV, "csv", "text/csv; charset=utf-8"
	switch r.URL.Query().Get("format") {
	case "", "csv":
	case "xlsx":
		write, ext, ctype = st.WriteErrorReportXLSX, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	default:
		c.fail(w, r, http.StatusBadRequest, "format must be csv or xlsx")
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fmt.Sprintf("job-%d-errors.%s", id, ext)}))
	if err := write(r.Context(), id, w); err != nil {
		// The headers are sent: the download ends short, and the log says why.
		c.log.Warn("console: sending an error report", "job", id, "err", err)
	}
}
