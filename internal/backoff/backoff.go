// Package backoff computes the waits of retry and polling loops: exponential growth
// from an initial wait, capped, with optional jitter. It only computes; the loops that
// use it decide when to stop and how to sleep.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff schedule. The zero value waits nothing.
//
// The wait before retry n (n from 1) is Initial × Multiplier^(n-1), capped at Max, then
// spread by ±Jitter and capped at Max again. For example Policy{Initial: 5 * time.Second,
// Max: time.Minute, Multiplier: 1.5} waits 5s, 7.5s, 11.25s, … 60s, 60s.
type Policy struct {
	// Initial is the first wait. Zero or negative: no wait at all.
	Initial time.Duration
	// Max caps every wait, jitter included. Zero or negative: no cap (a wait is
	// still at most math.MaxInt64 nanoseconds, about 292 years).
	Max time.Duration
	// Multiplier is the growth from one wait to the next. Values at or below 1 (the
	// zero value included) keep every wait at Initial.
	Multiplier float64
	// Jitter spreads each wait uniformly over [d×(1-Jitter), d×(1+Jitter)] so that
	// clients that failed together do not retry together; 0.1 is ±10%. Zero (the
	// default) makes Delay deterministic; values are clamped to [0, 1].
	Jitter float64
}

// Delay returns the wait before retry attempt, counted from 1 (the wait after the
// first failure). attempt below 1 counts as 1. The result is never negative, never
// above Max (when Max is set) and does not overflow for any attempt.
func (p Policy) Delay(attempt int) time.Duration {
	if p.Initial <= 0 {
		return 0
	}
	limit := float64(math.MaxInt64)
	if p.Max > 0 {
		limit = float64(p.Max)
	}
	d := float64(p.Initial)
	if p.Multiplier > 1 && attempt > 1 {
		// math.Pow saturates at +Inf for huge attempts; min brings it back to limit.
		d *= math.Pow(p.Multiplier, float64(attempt-1))
	}
	return toDuration(min(spread(min(d, limit), p.Jitter), limit))
}

// Spread returns d spread uniformly by ±jitter (0.1 is ±10%), jitter clamped to
// [0, 1]: Policy's jitter, for waits that come from elsewhere (a server's
// Retry-After). Zero jitter returns d; the result is never negative.
func Spread(d time.Duration, jitter float64) time.Duration {
	return toDuration(spread(float64(d), jitter))
}

func spread(d, jitter float64) float64 {
	if !(jitter > 0) || d <= 0 { // !(>) also catches NaN
		return d
	}
	jitter = min(jitter, 1)
	return d * (1 - jitter + 2*jitter*rand.Float64())
}

// toDuration converts d, saturating: float64(math.MaxInt64) rounds up to 2^63, which
// does not fit in an int64.
func toDuration(d float64) time.Duration {
	switch {
	case d >= float64(math.MaxInt64):
		return math.MaxInt64
	case d <= 0:
		return 0
	}
	return time.Duration(d)
}

// Sleep waits d, or until ctx ends (then it returns ctx's error); d of zero or less
// returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
