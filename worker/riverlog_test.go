package worker

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestQuietRiverLowersRoutineReports(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(quietRiver{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	log.Info("producer: Producer job counts", "queue", "poll")
	log.Info("maintenance.JobCleaner: Ran successfully", "num_jobs_deleted", 0)
	log.Info("River client started")
	log.Warn("producer: Error fetching jobs")
	assert.NotContains(t, buf.String(), "Producer job counts")
	assert.NotContains(t, buf.String(), "Ran successfully")
	assert.Contains(t, buf.String(), "River client started")
	assert.Contains(t, buf.String(), "Error fetching jobs")

	buf.Reset()
	debug := slog.New(quietRiver{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})
	debug.Info("producer: Producer job counts")
	assert.Contains(t, buf.String(), "level=DEBUG msg=\"producer: Producer job counts\"")
}
