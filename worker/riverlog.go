package worker

import (
	"context"
	"log/slog"
	"strings"
)

// quietRiver is the handler River logs through: River's routine periodic reports (each
// producer's job counts, every maintenance pass that "ran successfully") are lowered to
// debug, so that an info log of `serve` says what the pipeline does, not that River is
// alive.
type quietRiver struct{ slog.Handler }

func (h quietRiver) Enabled(ctx context.Context, level slog.Level) bool {
	// Info records may be lowered: decide on the record, not the level.
	return level >= slog.LevelInfo || h.Handler.Enabled(ctx, level)
}

func (h quietRiver) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && routineRiver(r.Message) {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietRiver) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietRiver{h.Handler.WithAttrs(attrs)}
}

func (h quietRiver) WithGroup(name string) slog.Handler { return quietRiver{h.Handler.WithGroup(name)} }

// routineRiver reports whether a River message is one of its routine reports.
func routineRiver(msg string) bool {
	return strings.HasSuffix(msg, "Producer job counts") || strings.Contains(msg, "Ran successfully")
}
