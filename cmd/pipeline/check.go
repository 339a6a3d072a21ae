package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/config"
)

func newCheckCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "check -c FILE",
		Short: "Validate a config file and print every problem",
		Long: `check reads a config file (or a folder of *.yaml files), expands its secrets and
validates it without touching the network or the database. Every problem is printed on
its own line as FILE:LINE: message. Exit status 0 means the config is clean, 64 that it
is not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			var problems config.Problems
			if cfg != nil && (err == nil || errors.As(err, &problems)) {
				problems = mergeProblems(problems, compileProjects(cfg))
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(cmd.OutOrStdout(), p)
				}
				return &exitError{code: exitUsage}
			}
			if err != nil {
				return usageError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s, %s, %s)\n", strings.Join(cfg.Files, ", "),
				plural(len(cfg.Environments), "environment"), plural(len(cfg.Connections), "connection"),
				plural(len(cfg.Projects), "project"))
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	return cmd
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
