package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/config"
)

func newCheckCmd() *cobra.Command {
	var (
		cfgPath        string
		requireSecrets bool
	)
	cmd := &cobra.Command{
		Use:   "check -c FILE",
		Short: "Validate a config file and print every problem",
		Long: `check reads a config file (or a folder of *.yaml files), expands its secrets and
validates it without touching the network or the database. Every problem is printed on
its own line as FILE:LINE: message.

A secret this shell does not have (an unset ${env:NAME}, a ${file:PATH} that does not
exist) is named on a FILE:LINE: warning: line, never its value, and the rest of the
config is checked as if it were set, so that a config can be checked in CI away from
its secrets. --require-secrets makes those errors, as every other command does.

Exit status 0 means the config is clean (warnings aside), 64 that it is not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Loader{OptionalSecrets: !requireSecrets}.Load(cfgPath)
			var problems config.Problems
			switch {
			case err == nil:
				problems = cfg.Warnings
			case !errors.As(err, &problems):
				return usageError(err)
			}
			if cfg != nil {
				problems = mergeProblems(problems, compileProjects(cfg))
			}
			for _, p := range problems {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			if problems.HasErrors() {
				return &exitError{code: exitUsage}
			}
			summary := fmt.Sprintf("%s: ok (%s, %s, %s)", strings.Join(cfg.Files, ", "),
				plural(len(cfg.Environments), "environment"), plural(len(cfg.Connections), "connection"),
				plural(len(cfg.Projects), "project"))
			if len(problems) > 0 {
				summary += " with " + plural(len(problems), "warning")
			}
			fmt.Fprintln(cmd.OutOrStdout(), summary)
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&requireSecrets, "require-secrets", false, "fail (exit 64) when a ${env:} or ${file:} secret is not set here")
	return cmd
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
