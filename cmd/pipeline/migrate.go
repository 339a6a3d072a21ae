package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/migrations"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate up|status",
		Short: "Apply or list database migrations (dmfpipe's and River's)",
		Long: `migrate manages the database schema: dmfpipe's job history and staging tables and
the River job queue. "up" is safe to run from several nodes at once: they take turns
under an advisory lock and each migration is applied once.`,
	}
	var up, status dbFlags
	upCmd := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := up.openPool(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			steps, err := migrations.Up(cmd.Context(), pool, nil)
			if err != nil {
				return err
			}
			for _, s := range steps {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %s %d %s\n", s.Component, s.Version, s.Name)
			}
			if len(steps) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "database is up to date")
			}
			return nil
		},
	}
	up.register(upCmd)
	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := status.openPool(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			states, err := migrations.Status(cmd.Context(), pool)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "COMPONENT\tVERSION\tSTATE\tNAME")
			pending := 0
			for _, s := range states {
				state := "applied"
				if !s.Applied {
					state = "pending"
					pending++
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", s.Component, s.Version, state, s.Name)
			}
			w.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "%d pending\n", pending)
			return nil
		},
	}
	status.register(statusCmd)
	cmd.AddCommand(upCmd, statusCmd)
	return cmd
}
