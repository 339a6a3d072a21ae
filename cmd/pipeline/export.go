package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/worker"
)

func newExportCmd() *cobra.Command {
	var (
		db     dbFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "export -c CFG PROJECT [--json]",
		Short: "Export a project's data out of F&O to its destination, in the foreground",
		Long: `export runs an export project now, through the same stages as serve: for a package
export, ExportToPackage (Async) and its status, the package downloaded from its SAS URL
and each entity written to the destination in the project's format; for a recurring
export (mode: recurring), every message of the recurring data job dequeued one at a
time, written, then acknowledged, until F&O has none left.

Files are written under a temporary name and renamed when complete, never over an
existing file; a manifest with each file's rows and SHA-256 comes last. Ctrl-C stops
cleanly: the job resumes at the next export of the project, and writes the same files.

Exit status: 0 succeeded, 2 partially succeeded (F&O reported PartiallySucceeded, or
some recurring messages could not be delivered), 1 failed, 64 a usage or config problem.`,
		Args: usageArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error { return runExport(cmd, &db, args[0], asJSON) },
	}
	db.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// runExport runs (or resumes) one export job of project on an in-process worker that
// works this export's steps, and waits for it.
func runExport(cmd *cobra.Command, db *dbFlags, project string, asJSON bool) error {
	ctx := cmd.Context()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := loadApp(db.configPath, app.Options{Logger: log})
	if err != nil {
		return err
	}
	if _, err := a.ExportProject(project); err != nil {
		return usageError(err)
	}
	w, err := startForeground(ctx, db, a, log, project)
	if err != nil {
		return err
	}
	defer w.close(ctx)
	out := cmd.OutOrStdout()
	ids, err := w.Exports().Resume(ctx, project)
	if err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Fprintf(out, "resuming export job %d\n", id)
	}
	if len(ids) == 0 {
		id, err := w.Exports().Start(ctx, project, exports.TriggerExport, time.Time{})
		var running *exports.RunningError
		if errors.As(err, &running) {
			return &exitError{code: exitFailed, err: err}
		}
		if err != nil {
			return err
		}
		ids = []int64{id}
	}
	var sums []exports.Summary
	for _, id := range ids {
		s, err := waitExport(ctx, w.Worker, id, out, asJSON)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "\n%v\n", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "\ninterrupted: export job %d stops here and resumes at the next `pipeline export -c %s %s`\n",
				id, db.configPath, project)
			return &exitError{code: exitFailed}
		}
		sums = append(sums, s)
	}
	if asJSON {
		if err := printJSONJobs(out, sums); err != nil {
			return err
		}
	}
	statuses := make([]string, len(sums))
	for i, s := range sums {
		statuses[i] = s.Status
	}
	return statusesExit(statuses)
}

// waitExport follows an export job until it ends, printing each stage and each file as
// it lands (unless quiet).
func waitExport(ctx context.Context, w *worker.Worker, id int64, out io.Writer, quiet bool) (exports.Summary, error) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	stage, files, messages := "", 0, 0
	for {
		s, err := w.Exports().Summary(ctx, id)
		if err != nil {
			return s, err
		}
		if !quiet {
			at := s.Stage
			if s.Status == jobhistory.JobQueued {
				at = "queued"
			}
			if at != stage {
				stage = at
				line := fmt.Sprintf("export job %d %s", s.ID, stage)
				if s.Execution != "" && s.DMFStatus != "" {
					line += fmt.Sprintf(" (execution %s: %s)", s.Execution, s.DMFStatus)
				}
				fmt.Fprintln(out, line)
			}
			for _, f := range s.Files[files:] {
				fmt.Fprintf(out, "  wrote %s (%s, %d rows, %d bytes)\n", f.Path, f.Kind, f.Rows, f.Bytes)
			}
			files = len(s.Files)
			for _, m := range s.Messages[min(messages, len(s.Messages)):] {
				fmt.Fprintf(out, "  message %s: %s\n", m.CorrelationID, m.Status)
			}
			messages = len(s.Messages)
		}
		if s.Done() {
			if !quiet {
				fmt.Fprintf(out, "export job %d: %s in %s: %d rows in %d files", s.ID, strings.ReplaceAll(s.Status, "_", " "),
					s.Duration.Round(time.Millisecond), s.Rows, s.DataFiles())
				if len(s.Messages) > 0 {
					fmt.Fprintf(out, ", %d messages", len(s.Messages))
				}
				fmt.Fprintln(out)
				if s.Error != "" {
					fmt.Fprintf(out, "  %s\n", s.Error)
				}
			}
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-w.Lost():
			return s, fmt.Errorf("export job %d: %w", id, worker.ErrLivenessLost)
		case <-t.C:
		}
	}
}
