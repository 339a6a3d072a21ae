// Command pipeline is dmfpipe: bulk data in and out of Dynamics 365 Finance &
// Operations through the Data Management Framework.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // schedules name IANA zones; do not depend on the host's zoneinfo
)

// Exit codes shared by every command (DESIGN.md, CLI contract).
const (
	exitOK      = 0
	exitFailed  = 1
	exitPartial = 2
	exitUsage   = 64
)

// exitError carries a process exit code through cobra's error return.
// A nil err with a non-zero code means the command already printed its outcome.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as a usage or configuration problem (exit 64).
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	stop()
	format, _ := root.PersistentFlags().GetString(logFormatFlag)
	os.Exit(exitCode(err, os.Stderr, format))
}

// exitCode prints err (unless the command already reported its outcome) in the log
// format and maps it to the process exit code.
func exitCode(err error, stderr io.Writer, format string) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			printError(stderr, format, ee.err)
		}
		return ee.code
	}
	printError(stderr, format, err)
	return exitFailed
}
