package main

import (
	"context"
	"fmt"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/migrations"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

func newProjectsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projects list|pause|resume|run-now",
		Short: "List projects with their schedules; pause, resume or run one now",
		Long: `projects shows and steers the scheduled projects of a config, through the database
that every serve node shares: a pause holds a project's scheduled runs on all nodes
until it is resumed (run-now still works); run-now asks the cluster to run the
project's discovery at once, as a schedule tick would.`,
	}
	cmd.AddCommand(
		projectsSub("list", "List projects, their schedules, next runs and pause state", cobra.NoArgs,
			func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, pool *pgxpool.Pool, _ []string) error {
				return listProjects(ctx, cmd, cfg, pool)
			}),
		projectsSub("pause PROJECT", "Hold PROJECT's scheduled runs on every node", cobra.ExactArgs(1),
			func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, pool *pgxpool.Pool, args []string) error {
				if err := scheduleStore(cfg, pool).Pause(ctx, args[0], whoAmI()); err != nil {
					return err
				}
				if err := auditProject(ctx, pool, args[0], jobhistory.ProjectPause, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "project %s paused\n", args[0])
				return nil
			}),
		projectsSub("resume PROJECT", "Let PROJECT's schedule fire again", cobra.ExactArgs(1),
			func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, pool *pgxpool.Pool, args []string) error {
				if err := scheduleStore(cfg, pool).Resume(ctx, args[0]); err != nil {
					return err
				}
				if err := auditProject(ctx, pool, args[0], jobhistory.ProjectResume, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "project %s resumed\n", args[0])
				return nil
			}),
		projectsSub("run-now PROJECT", "Have the serve nodes run PROJECT's discovery now", cobra.ExactArgs(1),
			func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, pool *pgxpool.Pool, args []string) error {
				// An insert-only River client: the serve nodes work the job.
				client, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{})
				if err != nil {
					return err
				}
				id, err := scheduler.RunNow(ctx, client, args[0])
				if err != nil {
					return err
				}
				if err := auditProject(ctx, pool, args[0], jobhistory.ProjectRunNow, map[string]any{"river_job": id}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "project %s: discovery queued (River job %d); a serve node runs it\n", args[0], id)
				return nil
			}),
	)
	return cmd
}

// projectsSub builds a projects subcommand that has the config and the database.
func projectsSub(use, short string, args cobra.PositionalArgs,
	run func(context.Context, *cobra.Command, *config.Config, *pgxpool.Pool, []string) error) *cobra.Command {
	var db dbFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError(err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			cfg, err := loadConfig(db.configPath)
			if err != nil {
				return err
			}
			if len(a) == 1 {
				if _, err := findProject(cfg, a[0]); err != nil {
					return err
				}
			}
			pool, err := db.openPool(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			if _, err := migrations.Up(cmd.Context(), pool, nil); err != nil {
				return err
			}
			return run(cmd.Context(), cmd, cfg, pool, a)
		},
	}
	db.register(cmd)
	return cmd
}

func scheduleStore(cfg *config.Config, pool *pgxpool.Pool) *scheduler.Store {
	return &scheduler.Store{DB: pool, Projects: cfg.Projects}
}

func listProjects(ctx context.Context, cmd *cobra.Command, cfg *config.Config, pool *pgxpool.Pool) error {
	states, err := scheduleStore(cfg, pool).List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECT\tKIND\tSCHEDULE\tTIME ZONE\tSTATE\tNEXT RUN")
	for _, st := range states {
		p, _ := findProject(cfg, st.Name)
		if p == nil {
			fmt.Fprintf(w, "%s\t-\t-\t-\t%s\tnot in the config\n", st.Name, pauseState(st))
			continue
		}
		next := "on demand"
		if p.Schedule != "" {
			if times, err := scheduler.Next(p, 1); err == nil && len(times) == 1 {
				next = times[0].In(time.Local).Format("2006-01-02 15:04 MST")
			}
		}
		sched := p.Schedule
		if sched == "" {
			sched = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, sched, p.Timezone, pauseState(st), next)
	}
	return w.Flush()
}

func pauseState(st scheduler.ProjectState) string {
	switch {
	case !st.Paused:
		return "active"
	case st.PausedBy != "":
		return "paused by " + st.PausedBy
	default:
		return "paused"
	}
}

// findProject returns the config's project called name; a name that is not there is a
// usage error.
func findProject(cfg *config.Config, name string) (*config.Project, error) {
	p, err := app.New(cfg, app.Options{}).Project(name)
	if err != nil {
		return nil, usageError(err)
	}
	return p, nil
}

// auditProject records a project action in its audit trail, as the OS user.
func auditProject(ctx context.Context, pool *pgxpool.Pool, project, action string, attrs map[string]any) error {
	return jobhistory.NewStore(pool).AddProjectEntry(ctx, jobhistory.ProjectEntry{Project: project, Actor: whoAmI(), Action: action, Attrs: attrs})
}

// whoAmI names the operator for the pause record.
func whoAmI() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "cli"
}
