package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "pipeline",
		Short: "Bulk data in and out of Dynamics 365 Finance & Operations (DMF)",
		Long: `pipeline moves files from Azure Blob Storage, SFTP or a local folder into
Dynamics 365 Finance & Operations through the Data Management Framework (DMF),
and exports the other way. Projects are declared in a YAML config file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	setVersionFlag(root)
	addLogFlags(root)
	root.AddCommand(
		newCheckCmd(),
		newConsoleCmd(),
		newDevCmd(),
		newDMFCmd(),
		newEmulatorCmd(),
		newEntitiesCmd(),
		newExportCmd(),
		newInspectCmd(),
		newJobsCmd(),
		newMigrateCmd(),
		newPreviewCmd(),
		newProjectsCmd(),
		newRunCmd(),
		newServeCmd(),
		newStagingCmd(),
		newVersionCmd(),
		newMappingHelpCmd(),
	)
	return root
}

// addConfigFlag registers the -c/--config flag shared by commands that read a config.
func addConfigFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "pipeline.yaml", "config file, or a folder of *.yaml files")
}

// usageArgs checks that a command is given one argument per name, else it is a usage
// error: "run takes one PROJECT, got 2 arguments", "row takes a JOB and a ROW, ...".
func usageArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		want := "one " + names[0]
		if len(names) > 1 {
			want = "a " + strings.Join(names, " and a ")
		}
		return usageError(fmt.Errorf("%s takes %s, got %d arguments", cmd.Name(), want, len(args)))
	}
}
