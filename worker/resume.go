package worker

import (
	"context"
	"fmt"
)

// Resume finds project's import jobs that have not ended (a foreground run that was
// interrupted, or a node that stopped) and makes their waiting River jobs runnable now,
// instead of after their retry backoff or snooze. It returns the ids of those jobs, for
// the caller to wait on. Jobs still running elsewhere are left alone.
func (w *Worker) Resume(ctx context.Context, project string) ([]int64, error) {
	rows, err := w.pool.Query(ctx,
		`SELECT id FROM jobs WHERE project = $1 AND kind = 'import' AND status IN ('queued', 'running') ORDER BY id`, project)
	if err != nil {
		return nil, fmt.Errorf("finding unfinished jobs of %s: %w", project, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding unfinished jobs of %s: %w", project, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	_, err = w.pool.Exec(ctx, `
UPDATE river_job SET state = 'available', scheduled_at = now()
WHERE state IN ('retryable', 'scheduled') AND kind LIKE 'dmfpipe.%'
  AND ((args ? 'job_id' AND (args->>'job_id')::bigint = ANY($1))
       OR args->>'execution_id' IN (SELECT execution_id FROM dmf_executions WHERE job_id = ANY($1)))`, ids)
	if err != nil {
		return nil, fmt.Errorf("resuming the jobs of %s: %w", project, err)
	}
	return ids, nil
}
