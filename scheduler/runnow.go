package scheduler

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// RunNow inserts a run-now discover job for project and returns its id. It is never
// deduplicated against earlier or pending runs, and it runs even when the project is paused.
// The caller checks that project is configured.
func RunNow(ctx context.Context, client *river.Client[pgx.Tx], project string) (int64, error) {
	res, err := client.Insert(ctx, DiscoverArgs{Project: project, Trigger: TriggerRunNow}, nil)
	if err != nil {
		return 0, fmt.Errorf("inserting run-now discover for project %q: %w", project, err)
	}
	return res.Job.ID, nil
}
