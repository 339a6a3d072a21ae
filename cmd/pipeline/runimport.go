package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/migrations"
	"github.com/dmfpipe/dmfpipe/worker"
)

// runImport imports files (local paths), or what the project's source holds now, in the
// foreground: the same stages `serve` runs, on an in-process worker that works this run's
// jobs (and those of earlier runs of the project that were interrupted), until every job
// ends.
func runImport(cmd *cobra.Command, db *dbFlags, project string, files []string, force, asJSON bool) error {
	ctx := cmd.Context()
	log, err := newLogger(cmd, slog.LevelWarn)
	if err != nil {
		return err
	}
	a, err := loadApp(db.configPath, app.Options{Logger: log})
	if err != nil {
		return err
	}
	if _, err := importProjectOf(a, project); err != nil {
		return err
	}
	local, err := localPaths(files)
	if err != nil {
		return err
	}
	pool, err := db.openAppPool(ctx, a)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		return err
	}
	w, err := worker.New(worker.Deps{Pool: pool, Parts: a, Logger: log, Foreground: project})
	if err != nil {
		return err
	}
	// The workers stop with the process: an interrupted job resumes at the next run.
	if err := w.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = w.Stop(stopCtx)
	}()

	out := cmd.OutOrStdout()
	resumed, err := w.Resume(ctx, project)
	if err != nil {
		return err
	}
	for _, id := range resumed {
		fmt.Fprintf(out, "resuming job %d\n", id)
	}
	started, err := w.Stages().Start(ctx, project, local, len(local) > 0, imports.TriggerRun, force)
	if err != nil {
		return usageError(err)
	}
	ids := append(resumed, started...)
	if len(ids) == 0 {
		fmt.Fprintf(out, "project %s: nothing new to import (files already taken; --force imports them again)\n", project)
		return nil
	}
	progress := newRunProgress(out, !asJSON && isTerminal(out))
	if len(files) > 0 {
		progress.filePrefix = "/" // local files are named from the file system root
	}
	var summaries []imports.JobSummary
	for _, id := range ids {
		s, err := waitWithProgress(ctx, w, id, progress, asJSON)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "\ninterrupted: job %d stops here and resumes at the next `pipeline run -c %s %s`\n",
					id, db.configPath, project)
				return &exitError{code: exitFailed}
			}
			// The database went away (or this node lost its session): the job is safe in
			// it and goes on where it stopped.
			fmt.Fprintf(cmd.ErrOrStderr(), "\n%v\njob %d stops here and resumes at the next `pipeline run -c %s %s`\n",
				err, id, db.configPath, project)
			return &exitError{code: exitFailed}
		}
		summaries = append(summaries, s)
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		var v any = summaries
		if len(summaries) == 1 {
			v = summaries[0]
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return jobsExit(summaries)
}

// localPaths makes `run --file` paths absolute (with forward slashes) and checks that
// each is a file.
func localPaths(files []string) ([]string, error) {
	abs := make([]string, len(files))
	for i, f := range files {
		a, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(a); err != nil {
			return nil, usageError(err)
		} else if st.IsDir() {
			return nil, usageError(fmt.Errorf("%s is a folder; --file takes files", f))
		}
		abs[i] = filepath.ToSlash(a)
	}
	return abs, nil
}

// waitWithProgress follows a job until it ends, printing its progress.
func waitWithProgress(ctx context.Context, w *worker.Worker, id int64, pr *runProgress, quiet bool) (imports.JobSummary, error) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		s, err := w.Summary(ctx, id)
		if err != nil {
			return s, err
		}
		if !quiet {
			pr.update(s)
		}
		if s.Done() {
			if !quiet {
				pr.done(s)
			}
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-w.Lost():
			return s, fmt.Errorf("job %d: %w", id, worker.ErrLivenessLost)
		case <-t.C:
		}
	}
}

// runProgress prints a job's stages: one refreshed line on a terminal, a line per
// change otherwise.
type runProgress struct {
	w          io.Writer
	tty        bool
	filePrefix string
	printed    time.Time
	last       string
	stage      string
	since      time.Time
	rowsMark   int64
}

// plainEvery spaces the progress lines within a stage when not on a terminal.
const plainEvery = 5 * time.Second

func newRunProgress(w io.Writer, tty bool) *runProgress { return &runProgress{w: w, tty: tty} }

func (p *runProgress) update(s imports.JobSummary) {
	if s.Stage != p.stage {
		p.stage, p.since, p.rowsMark = s.Stage, time.Now(), stageRows(s)
		if p.tty && p.last != "" {
			fmt.Fprintln(p.w)
		}
		p.last = ""
	}
	line := p.line(s)
	if line == p.last || (!p.tty && p.last != "" && time.Since(p.printed) < plainEvery) {
		return
	}
	p.last, p.printed = line, time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// line describes the stage with a bar where the total is known, the rate and an ETA.
func (p *runProgress) line(s imports.JobSummary) string {
	c := s.Counts
	done, total := stageRows(s), int64(0)
	switch s.Stage {
	case "upload", "poll":
		total = c.Staged - c.Invalid
	}
	head := fmt.Sprintf("job %d %-8s", s.ID, s.Stage)
	if s.File != "" {
		head = fmt.Sprintf("job %d %s%s %-8s", s.ID, p.filePrefix, s.File, s.Stage)
	}
	rate := ""
	if el := time.Since(p.since).Seconds(); el > 0.5 && done > p.rowsMark {
		r := float64(done-p.rowsMark) / el
		rate = fmt.Sprintf(" %.0f rows/s", r)
		if total > done && r > 0 {
			rate += fmt.Sprintf(", ETA %s", (time.Duration(float64(total-done)/r) * time.Second).Round(time.Second))
		}
	}
	if !p.tty {
		rate = "" // plain lines: counts only, one per change
	}
	if total > 0 {
		return fmt.Sprintf("%s %s %d/%d rows%s", head, bar(done, total, 24), done, total, rate)
	}
	return fmt.Sprintf("%s %d rows read, %d staged, %d invalid%s", head, c.Read, c.Staged, c.Invalid, rate)
}

// stageRows is the progress count of a job's current stage.
func stageRows(s imports.JobSummary) int64 {
	switch s.Stage {
	case "upload":
		return s.Counts.Uploaded
	case "poll":
		return s.Counts.Imported + s.Counts.Rejected
	}
	return s.Counts.Read
}

func bar(done, total int64, width int) string {
	n := int(min(done, total) * int64(width) / total)
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}

func (p *runProgress) done(s imports.JobSummary) {
	if p.tty {
		fmt.Fprintln(p.w)
	}
	c := s.Counts
	fmt.Fprintf(p.w, "job %d: %s in %s: %d read, %d staged, %d invalid, %d uploaded, %d imported, %d rejected by F&O, %d chunks\n",
		s.ID, strings.ReplaceAll(s.Status, "_", " "), s.Duration.Round(time.Millisecond),
		c.Read, c.Staged, c.Invalid, c.Uploaded, c.Imported, c.Rejected, s.Chunks)
	if s.Error != "" {
		fmt.Fprintf(p.w, "  %s\n", s.Error)
	}
	if c.Invalid+c.Rejected > 0 {
		fmt.Fprintf(p.w, "  the %d rows with errors wait in staging for job %d\n", c.Invalid+c.Rejected, s.ID)
	}
}

// jobsExit maps the jobs' outcomes to the exit code (DESIGN.md): the worst one wins.
func jobsExit(ss []imports.JobSummary) error {
	code := exitOK
	for _, s := range ss {
		switch s.Status {
		case jobhistory.JobFailed, jobhistory.JobCanceled:
			code = exitFailed
		case jobhistory.JobPartiallySucceeded:
			if code == exitOK {
				code = exitPartial
			}
		}
	}
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

// isTerminal reports whether w is a character device (a terminal), for progress lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
