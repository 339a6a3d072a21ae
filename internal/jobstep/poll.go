package jobstep

import (
	"time"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/internal/backoff"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// PollSettings are an environment's poll settings; an environment not configured has
// the defaults.
func (b *Base) PollSettings(env string) config.Poll {
	if e, ok := b.c.Environments[env]; ok {
		return e.Poll
	}
	return config.Poll{Initial: config.Duration(config.DefaultPollInitial), Max: config.Duration(config.DefaultPollMax),
		Deadline: config.Duration(config.DefaultPollDeadline)}
}

// PollInterval is the wait after the n-th status call of an execution of env: the poll
// schedule's initial interval, growing 1.5× up to its max.
func (b *Base) PollInterval(env string, n int) time.Duration {
	ps := b.PollSettings(env)
	return backoff.Policy{Initial: ps.Initial.D(), Max: ps.Max.D(), Multiplier: 1.5}.Delay(n)
}

// PollWait is how long a status call of ex must still wait to keep to its poll schedule,
// whichever stage made the last one and whether or not the process restarted since.
func (b *Base) PollWait(ex jobhistory.Execution) time.Duration {
	if ex.LastPolledAt.IsZero() || ex.Polls == 0 {
		return 0
	}
	return b.PollInterval(ex.Environment, ex.Polls) - b.c.Now().Sub(ex.LastPolledAt)
}
