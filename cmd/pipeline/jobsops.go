package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/worker"
)

// The operators' commands (staging edit|reject|resubmit, jobs retry|cancel) call the
// same stage functions as the console, as the OS user, and record the same audit trail.

// operatorName is who the CLI acts as in the audit trail: the OS user.
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "unknown"
}

// operatorSession is what an operator's command works with: the config's parts, the
// database, the job and its project's stages on a worker (started only to work an
// attempt in the foreground).
type operatorSession struct {
	app    *app.App
	pool   *pgxpool.Pool
	job    *jobhistory.Job
	worker *worker.Worker
	actor  string
	log    *slog.Logger
}

// openOperator opens the session of an operator's command on job.
func openOperator(cmd *cobra.Command, db *dbFlags, job int64) (*operatorSession, error) {
	ctx := cmd.Context()
	log, err := newLogger(cmd, slog.LevelWarn)
	if err != nil {
		return nil, err
	}
	a, err := loadApp(db.configPath, app.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	pool, err := db.openAppPool(ctx, a)
	if err != nil {
		return nil, err
	}
	if pool, err = upToDate(ctx, pool); err != nil {
		return nil, err
	}
	j, err := jobhistory.NewStore(pool).Job(ctx, job)
	if errors.Is(err, jobhistory.ErrJobNotFound) {
		pool.Close()
		return nil, fmt.Errorf("job %d not found", job)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := importProjectOf(a, j.Project); err != nil {
		pool.Close()
		return nil, fmt.Errorf("job %d is of project %s: %w", job, j.Project, err)
	}
	w, err := worker.New(worker.Deps{Pool: pool, Parts: a, Logger: log, Foreground: j.Project})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &operatorSession{app: a, pool: pool, job: j, worker: w, actor: operatorName(), log: log}, nil
}

func (s *operatorSession) close() { s.pool.Close() }

// withOperator runs fn in the operator session of the command's JOB argument.
func withOperator(cmd *cobra.Command, db *dbFlags, args []string, fn func(s *operatorSession) error) error {
	id, err := parseJobID(args[0])
	if err != nil {
		return err
	}
	s, err := openOperator(cmd, db, id)
	if err != nil {
		return err
	}
	defer s.close()
	return fn(s)
}

func (s *operatorSession) stages() *imports.Stages { return s.worker.Stages() }

// workAttempt works a job's attempt in the foreground, as `run` does, until the job
// ends; it prints its progress (or, with asJSON, its summary) and returns the exit code's
// error: 0 succeeded, 2 partially succeeded, 1 failed.
func (s *operatorSession) workAttempt(cmd *cobra.Command, db *dbFlags, asJSON bool) error {
	ctx := cmd.Context()
	if err := s.worker.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.worker.Stop(stopCtx)
	}()
	out := cmd.OutOrStdout()
	hint := func(job int64) string { return fmt.Sprintf("pipeline staging errors %d -c %s", job, db.configPath) }
	sums, err := follow(ctx, s.worker, []int64{s.job.ID}, newView(out, asJSON, hint))
	if err != nil {
		newNotices(cmd, s.log).say("\n%v\njob %d stops here and resumes at the next `pipeline run -c %s %s`",
			err, s.job.ID, db.configPath, s.job.Project)
		return &exitError{code: exitFailed}
	}
	if asJSON {
		if err := printJSON(out, sums[0]); err != nil {
			return err
		}
	}
	return jobsExit(sums)
}

// followAttempt says what a new attempt sends and works it here until the job ends,
// or, detached, leaves it to the serve nodes.
func (s *operatorSession) followAttempt(cmd *cobra.Command, db *dbFlags, a *imports.NewAttempt, detach, asJSON bool) error {
	w := cmd.OutOrStdout()
	if !asJSON {
		fmt.Fprintf(w, "job %d: attempt %d sends %s again as %s (%d-%d)\n", a.Job.ID, a.Attempt, plural(int(a.Rows), "row"),
			plural(a.Chunks, "chunk"), a.FirstChunk, a.FirstChunk+a.Chunks-1)
	}
	if detach {
		if !asJSON {
			fmt.Fprintf(w, "the serve nodes work it; follow it with: pipeline jobs show %d\n", a.Job.ID)
		}
		return nil
	}
	return s.workAttempt(cmd, db, asJSON)
}

// explainOperator words the stages' refusals for an operator (exit status 1).
func explainOperator(err error, job int64) error {
	switch {
	case errors.Is(err, staging.ErrBadFilter):
		return usageError(err)
	case errors.Is(err, staging.ErrNoJob):
		return explainStaging(err, job, 0)
	case errors.Is(err, imports.ErrNothingSelected):
		return &rewordedError{msg: fmt.Sprintf("job %d: no open row matches (only invalid, rejected and fixed rows are changed)", job), err: err}
	}
	return err
}

func newJobsRetryCmd() *cobra.Command {
	var (
		db             dbFlags
		asJSON, detach bool
	)
	cmd := &cobra.Command{
		Use:   "retry JOB -c CFG [--detach] [--json]",
		Short: "Get a job going again: its waiting steps now, or its rows F&O never judged as a new attempt",
		Long: `retry gets job JOB going again, as the OS user (recorded in the job's audit trail).

A job still running has its waiting steps (retries after a failure, polls waiting for
their next turn) run now, through River's JobRetry, and any step it lacks offered
again; a job of a foreground run is then worked here until it ends, as run would.

An ended job sends its rows that F&O gave no verdict on (not imported: their chunk
failed, the execution ran past its poll deadline, or the job was canceled) to F&O
again, with any valid row never sent, as a new attempt of the same job: new chunks
numbered after its others, through the same upload and poll stages. The attempt is
worked here until the job ends, printing its progress; --detach leaves it to the serve
nodes instead and returns at once. Rows whose verdict is unknown may be in F&O
already: F&O updates a record it gets twice by its key.

Exit status as for run: 0 the job succeeded, 2 it partially succeeded, 1 it failed,
or there was nothing to send (a job that failed before its rows were staged: run its
project again); 64 for a bad argument. --json prints the job's summary at the end.`,
		Args: usageArgs("JOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOperator(cmd, &db, args, func(s *operatorSession) error {
				id := s.job.ID
				res, err := s.stages().Retry(cmd.Context(), s.actor, id, !detach)
				if err != nil {
					return explainOperator(err, id)
				}
				out := cmd.OutOrStdout()
				if res.Hurried {
					if !s.job.Foreground || detach {
						fmt.Fprintf(out, "job %d: its waiting steps run now\n", id)
						return nil
					}
					fmt.Fprintf(out, "job %d: its waiting steps run now, here\n", id)
					return s.workAttempt(cmd, &db, asJSON)
				}
				return s.followAttempt(cmd, &db, res.Attempt, detach, asJSON)
			})
		},
	}
	db.register(cmd)
	cmd.Flags().BoolVar(&detach, "detach", false, "leave the new attempt to the serve nodes and return at once")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job's summary as JSON when it ends")
	return cmd
}

func newJobsCancelCmd() *cobra.Command {
	var (
		db     dbFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "cancel JOB -c CFG [--json]",
		Short: "Stop a job that has not ended",
		Long: `cancel stops job JOB, as the OS user (recorded in the job's audit trail and
timeline): its waiting and running steps are canceled through River's JobCancel (a
running one is told to stop), its open chunks end canceled, and the rows F&O had not
given a verdict on become not imported, saying whether F&O may have them (a chunk
that was being sent or imported). The job ends canceled; its file stays where it is.

Send the rows not imported again later with: pipeline jobs retry JOB.

A job that has already ended is an error (exit status 1). --json prints the job as
jobs show --json does, without its trail.`,
		Args: usageArgs("JOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOperator(cmd, &db, args, func(s *operatorSession) error {
				id := s.job.ID
				res, err := s.stages().Cancel(cmd.Context(), s.actor, id)
				if err != nil {
					return explainOperator(err, id)
				}
				out := cmd.OutOrStdout()
				if asJSON {
					return printJSON(out, newJobView(res.Job, "", time.Now()))
				}
				_, err = fmt.Fprintf(out, "job %d canceled: %s stopped, %s not imported wait in staging (pipeline jobs retry %d sends them again)\n",
					id, plural(res.Steps, "step"), plural(int(res.NotImported), "row"), id)
				return err
			})
		},
	}
	db.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the canceled job as JSON")
	return cmd
}
