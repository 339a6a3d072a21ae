package jobstep

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Base is the job history side of a node's stages. It is safe for concurrent use.
type Base struct {
	c Config

	mu   sync.Mutex
	told map[string]bool // events TellOnce recorded
}

// New returns a Base over c.
func New(c Config) *Base { return &Base{c: c, told: map[string]bool{}} }

// Hist is the job history on db, recording this node as the actor of events.
func (b *Base) Hist(db jobhistory.DBTX) *jobhistory.Store {
	return jobhistory.NewStore(db).As(b.c.Node)
}

// Event records an entry of a job's timeline; a failure to record it is logged, not
// returned: the timeline must not fail a job.
func (b *Base) Event(ctx context.Context, job int64, stage, level, msg string, attrs map[string]any) {
	if err := b.Hist(b.c.DB).AddEvent(ctx, job, stage, level, msg, attrs); err != nil {
		b.c.Log.Warn("recording a job event", "job", job, "err", err)
	}
}

// TellOnce records an event the first time this node says it about a job's step.
func (b *Base) TellOnce(ctx context.Context, job int64, stage, level, msg string) {
	key := fmt.Sprintf("%d/%s/%s", job, stage, msg)
	b.mu.Lock()
	told := b.told[key]
	b.told[key] = true
	b.mu.Unlock()
	if !told {
		b.Event(ctx, job, stage, level, msg, nil)
	}
}

// Job reads the job a step works on; a job that no longer exists drops the step.
func (b *Base) Job(ctx context.Context, id int64) (*jobhistory.Job, error) {
	j, err := b.Hist(b.c.DB).Job(ctx, id)
	if errors.Is(err, jobhistory.ErrJobNotFound) {
		return nil, Permanent(err)
	}
	return j, err
}
