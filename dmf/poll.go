package dmf

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dmfpipe/dmfpipe/internal/backoff"
)

// pollMultiplier is the growth of the polling interval (§2.9: 5 s growing x1.5 to 60 s).
const pollMultiplier = 1.5

// pollBackoff is the schedule of the "until ready" loops.
func (c *Client) pollBackoff() backoff.Policy {
	return backoff.Policy{Initial: c.opts.Poll.Initial, Max: c.opts.Poll.Max, Multiplier: pollMultiplier}
}

// poll calls check on the Poll schedule (Initial, x1.5, Max) until it reports done,
// fails, or Poll.Deadline passes.
func (c *Client) poll(ctx context.Context, what string, check func(ctx context.Context, elapsed time.Duration) (bool, error)) error {
	pctx, cancel := context.WithTimeout(ctx, c.opts.Poll.Deadline)
	defer cancel()
	start := time.Now()
	schedule := c.pollBackoff()
	for n := 1; ; n++ {
		done, err := check(pctx, time.Since(start))
		if ctx.Err() == nil && (pctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) {
			return fmt.Errorf("%s: %w (%s)", what, ErrPollDeadline, c.opts.Poll.Deadline)
		}
		if err != nil || done {
			return err
		}
		if err := c.opts.Sleep(pctx, schedule.Delay(n)); err != nil {
			if ctx.Err() == nil {
				return fmt.Errorf("%s: %w (%s)", what, ErrPollDeadline, c.opts.Poll.Deadline)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

// WaitForExecution polls GetExecutionSummaryStatus until the execution reaches a
// terminal status and returns it. Unrecognised statuses are logged and polled on; a
// 400 "were not found" counts as pending during Poll.NotFoundGrace.
func (c *Client) WaitForExecution(ctx context.Context, executionID string) (ExecutionStatus, error) {
	var last ExecutionStatus
	err := c.poll(ctx, "waiting for execution "+executionID, func(ctx context.Context, elapsed time.Duration) (bool, error) {
		st, err := c.GetExecutionSummaryStatus(ctx, executionID)
		if err != nil {
			if IsExecutionNotFound(err) && elapsed < c.opts.Poll.NotFoundGrace {
				c.log.Debug("dmf: execution not registered yet", "execution", executionID)
				return false, nil
			}
			return false, err
		}
		if st != last {
			if st.Known() {
				c.log.Info("dmf: execution status", "execution", executionID, "status", string(st))
			} else {
				c.log.Warn("dmf: unrecognised execution status; polling on", "execution", executionID, "status", string(st))
			}
			last = st
		}
		return st.Terminal(), nil
	})
	if err != nil {
		if errors.Is(err, ErrPollDeadline) && last != "" {
			return last, fmt.Errorf("%w; last status %s", err, last)
		}
		return last, err
	}
	return last, nil
}

// WaitExportedPackageURL polls GetExportedPackageUrl until it is not empty: F&O can
// report an export Succeeded a little before its package URL exists (§2.5).
func (c *Client) WaitExportedPackageURL(ctx context.Context, executionID string) (string, error) {
	var u string
	err := c.poll(ctx, "waiting for the package of "+executionID, func(ctx context.Context, _ time.Duration) (bool, error) {
		var err error
		u, err = c.GetExportedPackageURL(ctx, executionID)
		return u != "", err
	})
	return u, err
}

// WaitImportTargetErrorKeysFileURL polls GetImportTargetErrorKeysFileUrl until the
// file is generated. Call it only after GenerateImportTargetErrorKeysFile returned
// true; otherwise the URL stays empty until the deadline.
func (c *Client) WaitImportTargetErrorKeysFileURL(ctx context.Context, executionID, entityName string) (string, error) {
	var u string
	err := c.poll(ctx, "waiting for the error keys file of "+entityName, func(ctx context.Context, _ time.Duration) (bool, error) {
		var err error
		u, err = c.GetImportTargetErrorKeysFileURL(ctx, executionID, entityName)
		return u != "", err
	})
	return u, err
}
