package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/ingestjob"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/migrations"
	"github.com/dmfpipe/dmfpipe/validate"
)

// runFirstErrors is how many errors run prints; all are counted and kept in staging.
const runFirstErrors = 20

func newRunCmd() *cobra.Command {
	var (
		db     dbFlags
		o      runOptions
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "run -c CFG PROJECT [--file PATH]... [--dry-run] [--force] [--json] [--give-up-after D]",
		Short: "Import files into F&O in the foreground (or stage them only, with --dry-run)",
		Long: `run imports PROJECT in the foreground, through the same stages as serve: read, map
and validate every record into staging, run the set rules and the error-rate decision,
cut the valid rows into DMF packages, upload them in the project's lanes, follow the
executions and bring F&O's errors back onto their rows.

With --file it imports those local files (read in place, never moved); without it,
what the project's source holds now (files already imported are skipped unless
--force; a file whose content was already imported is skipped as a duplicate). Ctrl-C
stops cleanly: the job resumes at the next run of the project.

Every retry is shown with its cause as it happens. Errors that retrying will not cure
soon (a refused connection, an unknown host, rejected credentials) fail the run once
they have lasted --give-up-after; serve keeps retrying them with backoff.

With --dry-run (one --file) it only reads, maps, validates and stages the file, runs
the set rules and applies on_errors.max_error_rate; nothing is uploaded, and the
staged rows stay for the console until the staging retention ends.

Exit status: 0 succeeded (or nothing to do), 2 partially succeeded (rows wait in
staging; with --dry-run: some rows are invalid), 1 failed, 64 a usage or config problem.`,
		Args: usageArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !dryRun {
				return runImport(cmd, &db, args[0], o)
			}
			if len(o.files) != 1 || o.force {
				return usageError(errors.New("--dry-run takes exactly one --file (and no --force)"))
			}
			return runDry(cmd, &db, args[0], o.files[0], o.asJSON)
		},
	}
	db.register(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&o.files, "file", nil, "local file to import (repeatable); default: what the project's source holds")
	fl.BoolVar(&dryRun, "dry-run", false, "stage and validate only; upload nothing")
	fl.BoolVar(&o.force, "force", false, "import files and content that were already imported")
	fl.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	fl.DurationVar(&o.giveUpAfter, "give-up-after", 30*time.Second,
		"fail once an error that retrying will not cure soon (refused connection, unknown host, rejected credentials) has lasted this long")
	return cmd
}

// runOptions are run's flags of an import.
type runOptions struct {
	files       []string
	force       bool
	asJSON      bool
	giveUpAfter time.Duration
}

// runResult is what run prints, also its --json form.
type runResult struct {
	Job        int64            `json:"job"`
	Status     string           `json:"status"`
	DryRun     bool             `json:"dry_run"`
	Project    string           `json:"project"`
	File       string           `json:"file"`
	Read       int64            `json:"read"`
	Staged     int64            `json:"staged"`
	Valid      int64            `json:"valid"`
	Invalid    int64            `json:"invalid"`
	Duplicates int64            `json:"duplicates"`
	Lookups    int64            `json:"lookup_misses"`
	ErrorRate  float64          `json:"error_rate"`
	Error      string           `json:"error,omitempty"`
	Errors     []validate.Error `json:"errors"`
	Duration   float64          `json:"duration_seconds"`
}

func runDry(cmd *cobra.Command, db *dbFlags, project, file string, asJSON bool) error {
	ctx := cmd.Context()
	start := time.Now()
	a, err := loadApp(db.configPath, app.Options{})
	if err != nil {
		return err
	}
	p, err := importProjectOf(a, project)
	if err != nil {
		return err
	}
	opts, err := reader.OptionsFor(p.Format, file)
	if err != nil {
		return usageError(err)
	}
	// A file that is not there is a mistake in the command line; one that cannot be read
	// or does not fit the project is a failed job.
	if _, err := os.Stat(file); err != nil {
		return usageError(err)
	}
	pool, err := db.openAppPool(ctx, a)
	if err != nil {
		return err
	}
	if pool, err = upToDate(ctx, pool); err != nil {
		return err
	}
	defer pool.Close()
	open := func() (reader.Reader, error) { return reader.OpenFile(file, opts) }
	job, res, runErr := ingestjob.DryRun(ctx, pool, p.Name, p.Version, file, open, ingestjob.BindMapping(p.Mapping), p.Rules, p.Sets,
		ingestjob.Options{MaxErrorRate: p.OnErrors.MaxErrorRate, FirstErrors: runFirstErrors})
	if job == 0 {
		return runErr
	}
	out := runResult{
		Job: job, Status: jobhistory.JobSucceeded, DryRun: true, Project: p.Name, File: file,
		Read: res.Read, Staged: res.Counts.Total, Valid: res.Counts.Valid, Invalid: res.Counts.Invalid,
		Duplicates: res.Duplicates, Lookups: res.LookupMisses, ErrorRate: res.Counts.ErrorRate(),
		Errors: res.Errors, Duration: time.Since(start).Seconds(),
	}
	if out.Errors == nil {
		out.Errors = []validate.Error{}
	}
	switch {
	case runErr != nil:
		out.Status, out.Error = jobhistory.JobFailed, runErr.Error()
	case out.Invalid > 0:
		out.Status = jobhistory.JobPartiallySucceeded
	}
	w := cmd.OutOrStdout()
	if asJSON {
		if err := printJSON(w, out); err != nil {
			return err
		}
	} else {
		printRun(w, &out)
	}
	switch {
	case runErr != nil:
		return &exitError{code: exitFailed} // the reason is in the result
	case out.Invalid > 0:
		return &exitError{code: exitPartial}
	}
	return nil
}

// upToDate brings the schema of pool's database up to date, as every command that works
// on the database does; on failure it closes pool.
func upToDate(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Pool, error) {
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func printRun(w io.Writer, r *runResult) {
	fmt.Fprintf(w, "job %d (dry run, nothing uploaded): %s\n", r.Job, strings.ReplaceAll(r.Status, "_", " "))
	fmt.Fprintf(w, "%s: %d read, %d valid, %d invalid", r.File, r.Read, r.Valid, r.Invalid)
	if r.Duplicates > 0 || r.Lookups > 0 {
		fmt.Fprintf(w, " (%d duplicates, %d lookup misses)", r.Duplicates, r.Lookups)
	}
	fmt.Fprintf(w, " in %.1fs\n", r.Duration)
	if r.Error != "" {
		fmt.Fprintf(w, "job failed: %s\n", r.Error)
	}
	if len(r.Errors) == 0 {
		return
	}
	fmt.Fprintf(w, "\nfirst errors:\n")
	for i := range r.Errors {
		fmt.Fprintf(w, "  row %d: %s\n", r.Errors[i].Row, r.Errors[i].Error())
	}
	if r.Invalid > int64(len(r.Errors)) {
		fmt.Fprintf(w, "  ... all %d invalid rows are in staging for job %d\n", r.Invalid, r.Job)
	}
}
