package main

import (
	"bytes"
	"context"
	"testing"
)

// runCLI runs the pipeline command in-process and returns its output and exit code.
func runCLI(t *testing.T, args ...string) (stdout string, code int) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	format, _ := root.PersistentFlags().GetString(logFormatFlag)
	code = exitCode(err, &out, format)
	return out.String(), code
}
