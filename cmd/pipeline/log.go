package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// Logging flags, on every command: the format (text for people, json for log stacks) and
// the level (each command has its default: info for serve, warn for commands that print
// their own results).
const (
	logFormatFlag = "log-format"
	logLevelFlag  = "log-level"
)

func addLogFlags(root *cobra.Command) {
	root.PersistentFlags().String(logFormatFlag, "text", "log format: text or json (one JSON object a line)")
	root.PersistentFlags().String(logLevelFlag, "", "log level: debug, info, warn or error (default: info for serve, warn otherwise)")
}

// newLogger is the logger of cmd's run, on its standard error, at its flags' format and
// level (def when --log-level is not given).
func newLogger(cmd *cobra.Command, def slog.Level) (*slog.Logger, error) {
	format, _ := cmd.Flags().GetString(logFormatFlag)
	name, _ := cmd.Flags().GetString(logLevelFlag)
	level := def
	if name != "" {
		if err := level.UnmarshalText([]byte(name)); err != nil {
			return nil, usageError(fmt.Errorf("--log-level %q: want debug, info, warn or error", name))
		}
	}
	h, err := logHandler(cmd.ErrOrStderr(), format, level)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

func logHandler(w io.Writer, format string, level slog.Level) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, usageError(fmt.Errorf("--log-format %q: want text or json", format))
}

// printError writes the error a command ended with: a line for people, or with
// --log-format json a log record, so that every line of a JSON log is JSON.
func printError(w io.Writer, format string, err error) {
	if strings.EqualFold(format, "json") {
		slog.New(slog.NewJSONHandler(w, nil)).Log(context.Background(), slog.LevelError, err.Error())
		return
	}
	fmt.Fprintln(w, "pipeline:", err)
}

// notices is what a command tells its user on standard error beside its results (a
// retry, a notification not sent, an interruption): lines of text, or with --log-format
// json warn records of its logger, so that every line of standard error stays JSON.
type notices struct {
	w    io.Writer
	log  *slog.Logger
	json bool
}

func newNotices(cmd *cobra.Command, log *slog.Logger) notices {
	format, _ := cmd.Flags().GetString(logFormatFlag)
	return notices{w: cmd.ErrOrStderr(), log: log, json: strings.EqualFold(format, "json")}
}

// say writes one notice (it may hold several lines of text).
func (n notices) say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n.json {
		n.log.Warn(strings.TrimSpace(msg))
		return
	}
	fmt.Fprintln(n.w, msg)
}
