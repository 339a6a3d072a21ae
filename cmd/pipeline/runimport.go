package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/notify"
	"github.com/dmfpipe/dmfpipe/worker"
)

// foreground is an in-process worker that works the steps of one project's jobs only, on
// its own pool of a migrated database: `run` and `export` in the foreground.
type foreground struct {
	*worker.Worker
	pool    *pgxpool.Pool
	stopped bool
}

// startForeground opens and migrates a's database and starts a worker that works
// project's steps. The workers stop with the process: an interrupted job resumes at the
// next run of the project.
func startForeground(ctx context.Context, db *dbFlags, a *app.App, log *slog.Logger, project string) (*foreground, error) {
	pool, err := db.openAppPool(ctx, a)
	if err != nil {
		return nil, err
	}
	if pool, err = upToDate(ctx, pool); err != nil {
		return nil, err
	}
	w, err := worker.New(worker.Deps{Pool: pool, Parts: a, Logger: log, Foreground: project})
	if err == nil {
		err = w.Start(context.WithoutCancel(ctx))
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &foreground{Worker: w, pool: pool}, nil
}

// stop stops the worker, once, waiting 30 seconds at most. now cancels the running steps
// (an interrupted run: their temp files go with them, and they resume from their last
// committed step) instead of letting them finish.
func (f *foreground) stop(ctx context.Context, now bool) {
	if f.stopped {
		return
	}
	f.stopped = true
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if now {
		_ = f.StopNow(stopCtx)
	} else {
		_ = f.Stop(stopCtx)
	}
}

// close stops the worker unless it was, then closes its pool.
func (f *foreground) close(ctx context.Context) {
	f.stop(ctx, false)
	f.pool.Close()
}

// runImport imports files (local paths), or what the project's source holds now, in the
// foreground: the same stages `serve` runs, on an in-process worker that works this run's
// jobs (and those of earlier runs of the project that were interrupted), until every job
// ends.
func runImport(cmd *cobra.Command, db *dbFlags, project string, o runOptions) error {
	ctx := cmd.Context()
	log, err := newLogger(cmd, slog.LevelWarn)
	if err != nil {
		return err
	}
	say := newNotices(cmd, log).say
	a, err := loadApp(db.configPath, app.Options{Logger: log, DMFOptions: func(_ string, do *dmf.Options) {
		// In the foreground each retry is shown as it happens, and what retrying will not
		// cure soon (a refused connection, an unknown host, rejected credentials) fails
		// the run after --give-up-after instead of retrying for half an hour.
		do.OnRetry = func(r dmf.Retry) { say("  %s", r) }
		do.PersistentErrorTimeout = o.giveUpAfter
	}})
	if err != nil {
		return err
	}
	p, err := importProjectOf(a, project)
	if err != nil {
		return err
	}
	local, err := localPaths(o.files)
	if err != nil {
		return err
	}
	w, err := startForeground(ctx, db, a, log, project)
	if err != nil {
		return err
	}
	defer w.close(ctx)

	out := cmd.OutOrStdout()
	resumed, err := w.Resume(ctx, project)
	if err != nil {
		return err
	}
	for _, id := range resumed {
		fmt.Fprintf(out, "resuming job %d\n", id)
	}
	started, err := w.Stages().Start(ctx, project, local, len(local) > 0, imports.TriggerRun, o.force)
	if err != nil {
		return usageError(err)
	}
	ids := append(resumed, started...)
	// Notifications an earlier run could not send go out now.
	pending, err := w.FlushNotifications(ctx, project)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		fmt.Fprintf(out, "project %s: nothing new to import (files already taken; --force imports them again)\n", project)
		waitNotifications(ctx, w.Worker, pending, say)
		return nil
	}
	hint := func(job int64) string { return fmt.Sprintf("pipeline staging errors %d -c %s", job, db.configPath) }
	summaries, err := follow(ctx, w.Worker, ids, newView(out, o.asJSON, hint))
	if err != nil {
		w.stop(ctx, true)
		what := fmt.Sprintf("job %d stops here", ids[0])
		if len(ids) > 1 {
			what = fmt.Sprintf("jobs %v stop here", ids)
		}
		if ctx.Err() != nil {
			say("\ninterrupted: %s and resumes at the next `pipeline run -c %s %s`", what, db.configPath, project)
		} else {
			// The database went away (or this node lost its session): the jobs are safe
			// in it and go on where they stopped.
			say("\n%v\n%s and resumes at the next `pipeline run -c %s %s`", err, what, db.configPath, project)
		}
		return &exitError{code: exitFailed}
	}
	if p.Notify != nil && a.Notifier() != nil {
		for _, s := range summaries {
			if notify.ShouldNotify(p.Notify.On, notify.Status(s.Status)) {
				pending = append(pending, s.ID)
			}
		}
	}
	waitNotifications(ctx, w.Worker, pending, say)
	if o.asJSON {
		if err := printJSONJobs(out, summaries); err != nil {
			return err
		}
	}
	return jobsExit(summaries)
}

// printJSONJobs prints the summaries of a foreground command's jobs as JSON: one job's
// alone, several as a list.
func printJSONJobs[S any](w io.Writer, sums []S) error {
	if len(sums) == 1 {
		return printJSON(w, sums[0])
	}
	return printJSON(w, sums)
}

// notifyWait bounds how long run waits for its jobs' notifications to go out, and
// notifyRetrySoon how soon a retry after a refusal must come for run to wait for it.
const (
	notifyWait      = 30 * time.Second
	notifyRetrySoon = 5 * time.Second
)

// waitNotifications waits, up to notifyWait, for the notification of each of jobs, and
// says so when one could not be sent: one that is retried stays pending, and the next
// run of the project or serve sends it. It stops waiting for a notification at once
// when it was refused and its next attempt is not due soon.
func waitNotifications(ctx context.Context, w *worker.Worker, jobs []int64, say func(string, ...any)) {
	deadline := time.Now().Add(notifyWait)
	for _, job := range jobs {
		for {
			sent, why, err := w.Stages().NotificationSent(ctx, job)
			if err != nil || sent {
				break
			}
			retryAt, pending, err := w.NotificationRetry(ctx, job)
			if err != nil {
				break
			}
			if why != "" && !pending {
				say("the notification of job %d was not sent (%s) and is not retried", job, why)
				break
			}
			if time.Now().After(deadline) || (why != "" && time.Until(retryAt) > notifyRetrySoon) {
				if why == "" {
					why = "it is still pending"
				}
				say("the notification of job %d was not sent (%s); the next `pipeline run` of the project or `pipeline serve` sends it", job, why)
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(followEvery):
			}
		}
	}
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

// jobsExit maps the jobs' outcomes to the exit code (DESIGN.md): the worst one wins.
func jobsExit(ss []imports.JobSummary) error {
	statuses := make([]string, len(ss))
	for i, s := range ss {
		statuses[i] = s.Status
	}
	return statusesExit(statuses)
}

// statusesExit maps the statuses of the jobs a command ran to its exit code: the worst
// one wins.
func statusesExit(statuses []string) error {
	code := exitOK
	for _, st := range statuses {
		switch st {
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
