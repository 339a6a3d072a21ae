package notify

import (
	"context"
	"errors"
	"sync"
)

// Sender delivers a job's notification.
type Sender interface {
	Send(ctx context.Context, job Job) error
}

// Multi sends through every sender at once and joins their errors. A retry sends through
// all of them again; a caller that must not repeat a delivered channel gives each sender a
// job of its own.
type Multi []Sender

// Send implements [Sender].
func (m Multi) Send(ctx context.Context, job Job) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	for i, s := range m {
		wg.Go(func() { errs[i] = s.Send(ctx, job) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

var _ Sender = Multi(nil)
