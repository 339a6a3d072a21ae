package jobstep

import (
	"context"
	"errors"

	"github.com/dmfpipe/dmfpipe/dmf"
)

// ErrTurnTaken ends a status call, unsent, whose turn in its execution's poll schedule
// another stage or node took first.
var ErrTurnTaken = errors.New("another stage or node made this status call")

// Claimed returns ctx whose F&O calls are each claimed in the poll schedule of execution
// id (jobhistory's ClaimPoll, from its polls count seen) right before they go out
// (dmf.WithBeforeSend): after the rate limit let them through, so a call kept waiting
// there keeps to the schedule from when it reached F&O, and a call a crash cuts short
// still counts. A call whose turn was taken first fails with ErrTurnTaken, unsent.
// Record the answer with RecordAnswer.
func (b *Base) Claimed(ctx context.Context, id string, seen int) context.Context {
	hist := b.Hist(b.c.DB)
	return dmf.WithBeforeSend(ctx, func(ctx context.Context) error {
		ok, err := hist.ClaimPoll(ctx, id, seen)
		if err != nil {
			return err
		}
		if !ok {
			return ErrTurnTaken
		}
		seen++ // a retry of the call is a call of its own
		return nil
	})
}
