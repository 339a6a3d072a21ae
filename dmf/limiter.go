package dmf

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// envLimiter is the process-wide throttle of one F&O environment: a token bucket of
// MaxRequestsPerMinute, plus a shared pause set by a 429 so that every caller backs
// off together instead of each discovering the throttle on its own.
type envLimiter struct {
	lim *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time
}

var (
	limitersMu sync.Mutex
	limiters   = map[string]*envLimiter{}
)

// limiterFor returns the limiter shared by every Client of the environment at
// baseURL. The newest Client's rate wins, so a reconfigured environment takes effect.
func limiterFor(baseURL string, perMinute int) *envLimiter {
	key := strings.ToLower(baseURL)
	limit := rate.Limit(float64(perMinute) / 60)
	burst := max(1, perMinute/60)
	limitersMu.Lock()
	defer limitersMu.Unlock()
	l, ok := limiters[key]
	if !ok {
		l = &envLimiter{lim: rate.NewLimiter(limit, burst)}
		limiters[key] = l
		return l
	}
	if l.lim.Limit() != limit {
		l.lim.SetLimit(limit)
		l.lim.SetBurst(burst)
	}
	return l
}

// wait blocks until a request may be sent: after any shared 429 pause, then for a
// token of the bucket.
func (l *envLimiter) wait(ctx context.Context, sleep func(context.Context, time.Duration) error) error {
	l.mu.Lock()
	pause := time.Until(l.pausedUntil)
	l.mu.Unlock()
	if pause > 0 {
		if err := sleep(ctx, pause); err != nil {
			return err
		}
	}
	if err := l.lim.Wait(ctx); err != nil {
		if ctx.Err() == nil {
			// rate.Limiter refuses up front a wait that would pass ctx's deadline; say so
			// in the terms callers test for.
			return fmt.Errorf("waiting for the request rate limit: %w", context.DeadlineExceeded)
		}
		return err
	}
	return nil
}

// pause makes every caller of the environment wait d before its next request.
func (l *envLimiter) pause(d time.Duration) {
	until := time.Now().Add(d)
	l.mu.Lock()
	if until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
	l.mu.Unlock()
}

// groupLocks serialises ImportFromPackage and ExportToPackage calls per environment
// and definition group: F&O does not support concurrent package calls for one data
// project unless "Enhanced parallel package import" is on (dmf-api.md §6.2).
var (
	groupLocksMu sync.Mutex
	groupLocks   = map[string]chan struct{}{}
)

func lockGroup(ctx context.Context, baseURL, group string) (unlock func(), err error) {
	key := strings.ToLower(baseURL) + "\x00" + strings.ToLower(group)
	groupLocksMu.Lock()
	ch, ok := groupLocks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		groupLocks[key] = ch
	}
	groupLocksMu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
