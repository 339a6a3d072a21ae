package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

func newJobsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs list|show|retry|cancel",
		Short: "List the job history; show one job's chunks, DMF executions and timeline",
		Long: `jobs reads the job history that every serve node and every run records in the
database: one job per file imported (or export run), with its counts per stage, the
chunks its valid rows were cut into, the DMF executions sent to F&O for them and the
job's event timeline.

  pipeline jobs list -c pipeline.yaml --project customers-csv --status failed
  pipeline jobs show -c pipeline.yaml 42`,
	}
	cmd.AddCommand(newJobsListCmd(), newJobsShowCmd(), newJobsRetryCmd(), newJobsCancelCmd())
	return cmd
}

func newJobsListCmd() *cobra.Command {
	var (
		db     dbFlags
		filter jobhistory.JobFilter
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list -c CFG [--project P] [--status S] [--limit N] [--before ID] [--json]",
		Short: "List the most recent jobs, newest first",
		Long: `list prints the most recent jobs, newest (highest id) first: id, project, kind,
trigger, status, stage, file, rows read / invalid / imported / rejected by F&O, when
the job was created (local time) and how long it took (or has been running so far).

At most --limit jobs are printed. When more match, a last line gives the --before
to pass for the next page; pages are keyed on the job id, so jobs created meanwhile
never shift or repeat a row.

--json prints a JSON array of the jobs instead, with every field of each job (times
in UTC, RFC 3339); the next page is then the lowest id printed, as --before.

An unknown --status or a --limit below 1 is a usage error (exit status 64).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError(err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			statuses := jobhistory.JobStatuses()
			switch {
			case filter.Status != "" && !slices.Contains(statuses, filter.Status):
				return usageError(fmt.Errorf("unknown --status %q (valid: %s)", filter.Status, strings.Join(statuses, ", ")))
			case filter.Limit < 1:
				return usageError(fmt.Errorf("--limit must be at least 1, got %d", filter.Limit))
			case filter.Before < 0:
				return usageError(fmt.Errorf("--before must be a job id, got %d", filter.Before))
			}
			pool, err := openHistory(cmd.Context(), &db)
			if err != nil {
				return err
			}
			defer pool.Close()
			jobs, next, err := jobhistory.NewStore(pool).ListJobs(cmd.Context(), filter)
			if err != nil {
				return err
			}
			now := time.Now()
			if asJSON {
				views := make([]jobView, len(jobs))
				for i, j := range jobs {
					views[i] = newJobView(&j.Job, j.File, now)
				}
				return printJSON(cmd.OutOrStdout(), views)
			}
			return printJobs(cmd.OutOrStdout(), jobs, next, now)
		},
	}
	db.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&filter.Project, "project", "", "only the jobs of this project")
	fl.StringVar(&filter.Status, "status", "", "only the jobs in this status: "+strings.Join(jobhistory.JobStatuses(), ", "))
	fl.IntVar(&filter.Limit, "limit", jobhistory.DefaultListLimit, "the most jobs to print")
	fl.Int64Var(&filter.Before, "before", 0, "only the jobs with an id below this one (the next page); 0 starts at the newest")
	fl.BoolVar(&asJSON, "json", false, "print the jobs as a JSON array")
	return cmd
}

func newJobsShowCmd() *cobra.Command {
	var (
		db     dbFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show JOB -c CFG [--json]",
		Short: "Show one job: its fields, chunks, DMF executions and event timeline",
		Long: `show prints everything the history holds about job JOB (its id, as jobs list and
run print it): project, kind, trigger and cron tick, status and stage, F&O environment
and legal entity, source file, rows at each stage, error, times and duration; then
its chunks (the DMF packages its valid rows were cut into: lane, rows, status, upload
attempts, error), the DMF executions sent for them (definition group, last DMF status,
polls, times, error) and its event timeline, oldest first.

All of it is read in one snapshot, so the counts and the chunks of a running job agree.
--json prints the same as one JSON object (times in UTC, RFC 3339).

A JOB that is not in the history is an error (exit status 1); a JOB that is not a
job id is a usage error (exit status 64).`,
		Args: usageArgs("JOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			pool, err := openHistory(cmd.Context(), &db)
			if err != nil {
				return err
			}
			defer pool.Close()
			d, err := readJobDetail(cmd.Context(), pool, id)
			if errors.Is(err, jobhistory.ErrJobNotFound) {
				return fmt.Errorf("job %d not found", id)
			}
			if err != nil {
				return err
			}
			now := time.Now()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), newJobDetailView(d, now))
			}
			return printJobDetail(cmd.OutOrStdout(), d, now)
		},
	}
	db.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job as one JSON object")
	return cmd
}

// parseJobID reads the JOB argument.
func parseJobID(arg string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id < 1 {
		return 0, usageError(fmt.Errorf("JOB must be a job id (a positive number), got %q", arg))
	}
	return id, nil
}

// openHistory connects to the database of the flags, its schema brought up to date as by
// the other database commands.
func openHistory(ctx context.Context, db *dbFlags) (*pgxpool.Pool, error) {
	pool, err := db.openPool(ctx)
	if err != nil {
		return nil, err
	}
	return upToDate(ctx, pool)
}

// jobDetail is what show prints.
type jobDetail struct {
	job        *jobhistory.Job
	file       *jobhistory.LedgerEntry // nil when the job has no file
	chunks     []jobhistory.Chunk
	executions []jobhistory.Execution
	events     []jobhistory.Event
	export     exportTrail // jobs_exports.go
}

// readJobDetail reads a job and its trail in one read-only snapshot.
func readJobDetail(ctx context.Context, pool *pgxpool.Pool, id int64) (*jobDetail, error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("reading job %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read-only: nothing to undo
	s := jobhistory.NewStore(tx)
	var d jobDetail
	if d.job, err = s.Job(ctx, id); err != nil {
		return nil, err
	}
	if d.job.SourceFileID != 0 {
		if d.file, err = jobhistory.NewLedger(tx).Get(ctx, d.job.SourceFileID); err != nil {
			return nil, err
		}
	}
	if d.chunks, err = s.Chunks(ctx, id); err != nil {
		return nil, err
	}
	if d.executions, err = s.Executions(ctx, id); err != nil {
		return nil, err
	}
	if d.events, err = s.Events(ctx, id); err != nil {
		return nil, err
	}
	if d.job.Kind == "export" {
		if d.export, err = readExportTrail(ctx, s, id); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// Time layouts of the text output, in local time.
const (
	listTimeLayout  = "2006-01-02 15:04"
	showTimeLayout  = "2006-01-02 15:04:05 MST"
	eventTimeLayout = "2006-01-02 15:04:05.000"
)

func printJobs(w io.Writer, jobs []jobhistory.JobListing, next int64, now time.Time) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no jobs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROJECT\tKIND\tTRIGGER\tSTATUS\tSTAGE\tFILE\tREAD\tINVALID\tIMPORTED\tREJECTED\tCREATED\tDURATION\tERROR")
	for _, j := range jobs {
		file := "-"
		if j.File != "" {
			file = oneLine(path.Base(j.File))
		}
		c := j.Counts
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n",
			j.ID, j.Project, j.Kind, j.Trigger, j.Status, j.Stage, file,
			c.Read, c.Invalid, c.Imported, c.Rejected,
			j.CreatedAt.In(time.Local).Format(listTimeLayout), formatDuration(jobDuration(&j.Job, now)), orDash(shortError(j.Error)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != 0 {
		_, err := fmt.Fprintf(w, "more jobs: add --before %d for the next page\n", next)
		return err
	}
	return nil
}

func printJobDetail(w io.Writer, d *jobDetail, now time.Time) error {
	j := d.job
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", name, fmt.Sprintf(format, args...))
	}
	field("job", "%d", j.ID)
	field("project", "%s", j.Project)
	field("kind", "%s", j.Kind)
	field("trigger", "%s", j.Trigger)
	field("scheduled for", "%s", showTime(j.ScheduledFor, showTimeLayout))
	field("status", "%s", j.Status)
	field("stage", "%s", j.Stage)
	field("environment", "%s", orDash(j.Environment))
	field("legal entity", "%s", orDash(j.LegalEntity))
	if d.file != nil {
		field("file", "%s (connection %s, %d bytes, %s)", oneLine(d.file.File.Name), d.file.Connection, d.file.File.Size, d.file.Outcome)
	} else {
		field("file", "-")
	}
	c := j.Counts
	field("rows", "%d read, %d staged, %d invalid, %d uploaded, %d imported, %d rejected",
		c.Read, c.Staged, c.Invalid, c.Uploaded, c.Imported, c.Rejected)
	field("error", "%s", orDash(oneLine(j.Error)))
	field("created", "%s", showTime(j.CreatedAt, showTimeLayout))
	field("started", "%s", showTime(j.StartedAt, showTimeLayout))
	field("finished", "%s", showTime(j.FinishedAt, showTimeLayout))
	field("duration", "%s", formatDuration(jobDuration(j, now)))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nchunks: %d\n", len(d.chunks))
	if len(d.chunks) > 0 {
		fmt.Fprintln(tw, "  NO\tLANE\tROWS\tSTATUS\tATTEMPTS\tERROR")
		for _, ch := range d.chunks {
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\t%d\t%s\n", ch.No, ch.Lane, ch.RowCount, ch.Status, ch.Attempts, orDash(oneLine(ch.Error)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\nexecutions: %d\n", len(d.executions))
	if len(d.executions) > 0 {
		fmt.Fprintln(tw, "  ID\tCHUNK\tATTEMPT\tDEFINITION GROUP\tDMF STATUS\tPOLLS\tSUBMITTED\tFINISHED\tERROR")
		for _, e := range d.executions {
			chunk := "-"
			if e.ChunkNo != 0 {
				chunk = strconv.Itoa(e.ChunkNo)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, chunk, e.Attempt, e.DefinitionGroup,
				orDash(e.DMFStatus), e.Polls, showTime(e.SubmittedAt, showTimeLayout), showTime(e.FinishedAt, showTimeLayout),
				orDash(oneLine(e.Error)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if j.Kind == "export" {
		if err := printExportTrail(w, tw, d.export); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\nevents: %d\n", len(d.events))
	if len(d.events) == 0 {
		return nil
	}
	fmt.Fprintln(tw, "  TIME\tSTAGE\tLEVEL\tMESSAGE")
	for _, e := range d.events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", showTime(e.At, eventTimeLayout), e.Stage, e.Level, eventText(e))
	}
	return tw.Flush()
}

// listErrorWidth bounds a job's error in the job list; `jobs show` prints it whole.
const listErrorWidth = 60

// shortError is a job's error on one line of the job list.
func shortError(msg string) string {
	msg = oneLine(msg)
	if r := []rune(msg); len(r) > listErrorWidth {
		return string(r[:listErrorWidth-1]) + "…"
	}
	return msg
}

// eventText is an event's message followed by its attributes, key=value in key order,
// and who recorded it (the node that ran the step, or the operator).
func eventText(e jobhistory.Event) string {
	var b strings.Builder
	b.WriteString(oneLine(e.Message))
	keys := make([]string, 0, len(e.Attrs))
	for k := range e.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, oneLine(attrText(e.Attrs[k])))
	}
	if e.Actor != "" {
		fmt.Fprintf(&b, " (by %s)", e.Actor)
	}
	return b.String()
}

// attrText is an event attribute as written: numbers in full (JSON decodes them as
// float64, which fmt prints as 1.472588e+06), anything but a scalar as JSON.
func attrText(v any) string {
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	case bool, nil:
		return fmt.Sprint(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// jobDuration is how long a job took, or has been going on so far; ok is false for an
// ended job without an end time.
func jobDuration(j *jobhistory.Job, now time.Time) (d time.Duration, ok bool) {
	switch {
	case !j.FinishedAt.IsZero():
		d = j.FinishedAt.Sub(j.CreatedAt)
	case jobhistory.JobTerminal(j.Status):
		return 0, false
	default:
		d = now.Sub(j.CreatedAt)
	}
	return max(d, 0), true // the clocks of the nodes and of the database may disagree
}

func formatDuration(d time.Duration, ok bool) string {
	switch {
	case !ok:
		return "-"
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func showTime(t time.Time, layout string) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(time.Local).Format(layout)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line: F&O's errors come with newlines and tabs.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// jobView is a job in the --json output. Every key is always there; a time or duration
// that is not known is null.
type jobView struct {
	ID              int64                `json:"id"`
	Project         string               `json:"project"`
	Kind            string               `json:"kind"`
	Trigger         string               `json:"trigger"`
	ScheduledFor    *time.Time           `json:"scheduled_for"`
	Status          string               `json:"status"`
	Stage           string               `json:"stage"`
	Environment     string               `json:"environment"`
	LegalEntity     string               `json:"legal_entity"`
	SourceFileID    int64                `json:"source_file_id"`
	File            string               `json:"file"`
	Counts          jobhistory.JobCounts `json:"counts"`
	ChunksTotal     int                  `json:"chunks_total"`
	Error           string               `json:"error"`
	CreatedAt       time.Time            `json:"created_at"`
	StartedAt       *time.Time           `json:"started_at"`
	FinishedAt      *time.Time           `json:"finished_at"`
	DurationSeconds *float64             `json:"duration_seconds"`
}

func newJobView(j *jobhistory.Job, file string, now time.Time) jobView {
	v := jobView{
		ID: j.ID, Project: j.Project, Kind: j.Kind, Trigger: j.Trigger, ScheduledFor: jsonTime(j.ScheduledFor),
		Status: j.Status, Stage: j.Stage, Environment: j.Environment, LegalEntity: j.LegalEntity,
		SourceFileID: j.SourceFileID, File: file, Counts: j.Counts, ChunksTotal: j.ChunksTotal, Error: j.Error,
		CreatedAt: j.CreatedAt.UTC(), StartedAt: jsonTime(j.StartedAt), FinishedAt: jsonTime(j.FinishedAt),
	}
	if d, ok := jobDuration(j, now); ok {
		s := d.Seconds()
		v.DurationSeconds = &s
	}
	return v
}

func jsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

type chunkView struct {
	No        int       `json:"no"`
	Lane      int       `json:"lane"`
	FirstRow  int64     `json:"first_row"`
	LastRow   int64     `json:"last_row"`
	Rows      int       `json:"rows"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error"`
	UpdatedAt time.Time `json:"updated_at"`
}

type executionView struct {
	ID string `json:"id"`
	// Chunk is null for an execution of no chunk (an export).
	Chunk           *int       `json:"chunk"`
	Attempt         int        `json:"attempt"`
	Operation       string     `json:"operation"`
	Environment     string     `json:"environment"`
	DefinitionGroup string     `json:"definition_group"`
	LegalEntity     string     `json:"legal_entity"`
	BlobID          string     `json:"blob_id"`
	DMFStatus       string     `json:"dmf_status"`
	Polls           int        `json:"polls"`
	SubmittedAt     *time.Time `json:"submitted_at"`
	LastPolledAt    *time.Time `json:"last_polled_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	Error           string     `json:"error"`
}

type eventView struct {
	At      time.Time      `json:"at"`
	Stage   string         `json:"stage"`
	Level   string         `json:"level"`
	Message string         `json:"message"`
	Attrs   map[string]any `json:"attrs"`
	// Actor is the node that ran the step, or the operator who acted.
	Actor string `json:"actor,omitempty"`
}

// jobDetailView is show's --json output: the job's fields, then its trail.
type jobDetailView struct {
	jobView
	Chunks     []chunkView     `json:"chunks"`
	Executions []executionView `json:"executions"`
	// Files and Messages are an export job's.
	Files    []exportFileView `json:"files,omitempty"`
	Messages []messageView    `json:"messages,omitempty"`
	Events   []eventView      `json:"events"`
}

func newJobDetailView(d *jobDetail, now time.Time) jobDetailView {
	file := ""
	if d.file != nil {
		file = d.file.File.Name
	}
	v := jobDetailView{
		jobView:    newJobView(d.job, file, now),
		Chunks:     make([]chunkView, len(d.chunks)),
		Executions: make([]executionView, len(d.executions)),
		Events:     make([]eventView, len(d.events)),
	}
	for i, c := range d.chunks {
		v.Chunks[i] = chunkView{No: c.No, Lane: c.Lane, FirstRow: c.FirstRow, LastRow: c.LastRow, Rows: c.RowCount,
			Status: c.Status, Attempts: c.Attempts, Error: c.Error, UpdatedAt: c.UpdatedAt.UTC()}
	}
	for i, e := range d.executions {
		ev := executionView{ID: e.ID, Attempt: e.Attempt, Operation: e.Operation, Environment: e.Environment,
			DefinitionGroup: e.DefinitionGroup, LegalEntity: e.LegalEntity, BlobID: e.BlobID, DMFStatus: e.DMFStatus,
			Polls: e.Polls, SubmittedAt: jsonTime(e.SubmittedAt), LastPolledAt: jsonTime(e.LastPolledAt),
			FinishedAt: jsonTime(e.FinishedAt), Error: e.Error}
		if e.ChunkNo != 0 {
			ev.Chunk = &e.ChunkNo
		}
		v.Executions[i] = ev
	}
	v.Files, v.Messages = d.export.views()
	for i, e := range d.events {
		v.Events[i] = eventView{At: e.At.UTC(), Stage: e.Stage, Level: e.Level, Message: e.Message, Attrs: e.Attrs, Actor: e.Actor}
	}
	return v
}
