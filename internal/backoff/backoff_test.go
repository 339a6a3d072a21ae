package backoff_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/dmfpipe/dmfpipe/internal/backoff"
)

func TestDelayDeterministic(t *testing.T) {
	t.Parallel()
	poll := backoff.Policy{Initial: 5 * time.Second, Max: time.Minute, Multiplier: 1.5}
	retry := backoff.Policy{Initial: 2 * time.Second, Max: time.Minute, Multiplier: 2}
	for _, tc := range []struct {
		name    string
		p       backoff.Policy
		attempt int
		want    time.Duration
	}{
		{"poll first", poll, 1, 5 * time.Second},
		{"poll second", poll, 2, 7500 * time.Millisecond},
		{"poll third", poll, 3, 11250 * time.Millisecond},
		{"poll seventh", poll, 7, 56953125 * time.Microsecond},
		{"poll capped", poll, 8, time.Minute},
		{"retry doubles", retry, 4, 16 * time.Second},
		{"retry capped", retry, 6, time.Minute},
		{"attempt zero counts as one", retry, 0, 2 * time.Second},
		{"negative attempt counts as one", retry, -5, 2 * time.Second},
		{"huge attempt stays at max", retry, math.MaxInt, time.Minute},
		{"no max saturates", backoff.Policy{Initial: time.Second, Multiplier: 2}, math.MaxInt, math.MaxInt64},
		{"no max, no overflow at 2^62 ns", backoff.Policy{Initial: 1, Multiplier: 2}, 63, 1 << 62},
		{"multiplier one is constant", backoff.Policy{Initial: 3 * time.Second, Max: time.Minute, Multiplier: 1}, 10, 3 * time.Second},
		{"zero multiplier is constant", backoff.Policy{Initial: 3 * time.Second, Max: time.Minute}, 10, 3 * time.Second},
		{"initial above max is capped", backoff.Policy{Initial: time.Hour, Max: time.Minute, Multiplier: 2}, 1, time.Minute},
		{"zero policy waits nothing", backoff.Policy{}, 3, 0},
		{"negative initial waits nothing", backoff.Policy{Initial: -time.Second, Multiplier: 2}, 3, 0},
		{"infinite multiplier capped", backoff.Policy{Initial: time.Second, Max: time.Minute, Multiplier: math.Inf(1)}, 2, time.Minute},
		{"NaN multiplier is constant", backoff.Policy{Initial: time.Second, Multiplier: math.NaN()}, 5, time.Second},
		{"NaN jitter is no jitter", backoff.Policy{Initial: time.Second, Multiplier: 2, Jitter: math.NaN()}, 2, 2 * time.Second},
		{"negative jitter is no jitter", backoff.Policy{Initial: time.Second, Multiplier: 2, Jitter: -1}, 2, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for range 3 {
				assert.Equal(t, tc.want, tc.p.Delay(tc.attempt))
			}
		})
	}
}

func TestDelayJitter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p        backoff.Policy
		attempt  int
		low, top time.Duration
	}{
		{backoff.Policy{Initial: 10 * time.Second, Max: time.Hour, Multiplier: 2, Jitter: 0.1}, 1, 9 * time.Second, 11 * time.Second},
		{backoff.Policy{Initial: 10 * time.Second, Max: time.Hour, Multiplier: 2, Jitter: 0.1}, 3, 36 * time.Second, 44 * time.Second},
		// At the cap jitter only goes down: never above Max.
		{backoff.Policy{Initial: 10 * time.Second, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.1}, 5, 27 * time.Second, 30 * time.Second},
		// Jitter above 1 is clamped to 1: [0, 2d].
		{backoff.Policy{Initial: 10 * time.Second, Max: time.Hour, Jitter: 5}, 1, 0, 20 * time.Second},
		{backoff.Policy{Initial: time.Second, Multiplier: 2, Jitter: 0.5}, math.MaxInt, math.MaxInt64 / 2, math.MaxInt64},
	} {
		t.Run(fmt.Sprintf("%+v/%d", tc.p, tc.attempt), func(t *testing.T) {
			t.Parallel()
			seen := map[time.Duration]bool{}
			for range 200 {
				d := tc.p.Delay(tc.attempt)
				assert.GreaterOrEqual(t, d, tc.low)
				assert.LessOrEqual(t, d, tc.top)
				seen[d] = true
			}
			assert.Greater(t, len(seen), 1, "jitter varies the waits")
		})
	}
}

func TestSpread(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 7*time.Second, backoff.Spread(7*time.Second, 0))
	assert.Equal(t, time.Duration(0), backoff.Spread(0, 0.1))
	assert.Equal(t, time.Duration(0), backoff.Spread(-time.Second, 0.1), "never negative")
	for range 200 {
		d := backoff.Spread(30*time.Second, 0.1)
		assert.GreaterOrEqual(t, d, 27*time.Second)
		assert.LessOrEqual(t, d, 33*time.Second)
	}
	assert.GreaterOrEqual(t, backoff.Spread(time.Duration(math.MaxInt64), 0.5), time.Duration(math.MaxInt64/2),
		"no overflow when spreading the largest wait")
}

func ExamplePolicy_Delay() {
	poll := backoff.Policy{Initial: 5 * time.Second, Max: time.Minute, Multiplier: 1.5}
	for attempt := 1; attempt <= 8; attempt++ {
		fmt.Print(poll.Delay(attempt), " ")
	}
	fmt.Println()
	// Output: 5s 7.5s 11.25s 16.875s 25.3125s 37.96875s 56.953125s 1m0s
}
