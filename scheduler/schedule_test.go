package scheduler

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
)

func utc(month time.Month, day, hour, minute int) time.Time {
	return time.Date(2026, month, day, hour, minute, 0, 0, time.UTC)
}

func project(schedule, tz string) *config.Project {
	return &config.Project{Name: "p", Schedule: schedule, Timezone: tz}
}

// fires returns the fire times in (from, to].
func fires(t *testing.T, s *Schedule, from, to time.Time) []time.Time {
	t.Helper()
	var out []time.Time
	for at := s.Next(from); !at.After(to); at = s.Next(at) {
		require.False(t, at.IsZero())
		out = append(out, at)
	}
	return out
}

func TestScheduleDST(t *testing.T) {
	t.Parallel()
	// Europe/Amsterdam in 2026: clocks jump 02:00 CET → 03:00 CEST on 29 March (01:00 UTC)
	// and fall back 03:00 CEST → 02:00 CET on 25 October (01:00 UTC).
	// Australia/Lord_Howe falls back by 30 minutes: 02:00 → 01:30 on 5 April (15:00 UTC on 4 April).
	for _, tc := range []struct {
		name      string
		schedule  string
		tz        string
		from, to  time.Time
		want      []time.Time
		robfigGot int // what robfig/cron alone fires in the window, for the record
	}{{
		name:     "daily 02:30 across spring forward fires once, as the clocks jump",
		schedule: "30 2 * * *", tz: "Europe/Amsterdam",
		from: utc(time.March, 28, 0, 0), to: utc(time.March, 30, 12, 0),
		want: []time.Time{
			utc(time.March, 28, 1, 30), // 02:30 CET
			utc(time.March, 29, 1, 0),  // 02:30 does not exist: 03:00 CEST
			utc(time.March, 30, 0, 30), // 02:30 CEST
		},
		robfigGot: 2, // robfig skips 29 March
	}, {
		name:     "daily 02:30 across fall back fires once, at the first 02:30",
		schedule: "30 2 * * *", tz: "Europe/Amsterdam",
		from: utc(time.October, 24, 0, 0), to: utc(time.October, 26, 12, 0),
		want: []time.Time{
			utc(time.October, 24, 0, 30), // 02:30 CEST
			utc(time.October, 25, 0, 30), // first 02:30 (CEST); the second (01:30 UTC) does not fire
			utc(time.October, 26, 1, 30), // 02:30 CET
		},
		robfigGot: 4, // robfig fires at 00:30 and 01:30 UTC on 25 October
	}, {
		name:     "every 30 minutes across spring forward keeps firing every 30 minutes",
		schedule: "*/30 * * * *", tz: "Europe/Amsterdam",
		from: utc(time.March, 29, 0, 0), to: utc(time.March, 29, 2, 0),
		want: []time.Time{
			utc(time.March, 29, 0, 30), // 01:30 CET
			utc(time.March, 29, 1, 0),  // 03:00 CEST (02:00 and 02:30 do not exist)
			utc(time.March, 29, 1, 30), // 03:30 CEST
			utc(time.March, 29, 2, 0),  // 04:00 CEST
		},
		robfigGot: 4,
	}, {
		name:     "every 30 minutes across fall back skips the repeated hour's second pass",
		schedule: "*/30 * * * *", tz: "Europe/Amsterdam",
		from: utc(time.October, 24, 23, 0), to: utc(time.October, 25, 2, 30),
		want: []time.Time{
			utc(time.October, 24, 23, 30), // 01:30 CEST
			utc(time.October, 25, 0, 0),   // 02:00 CEST
			utc(time.October, 25, 0, 30),  // 02:30 CEST
			utc(time.October, 25, 2, 0),   // 03:00 CET
			utc(time.October, 25, 2, 30),  // 03:30 CET
		},
		robfigGot: 7,
	}, {
		name:     "a half-hour fall back repeats 01:45 once only",
		schedule: "45 1 * * *", tz: "Australia/Lord_Howe",
		from: utc(time.April, 3, 0, 0), to: utc(time.April, 5, 16, 0),
		want: []time.Time{
			utc(time.April, 3, 14, 45), // 4 April 01:45 +11:00
			utc(time.April, 4, 14, 45), // 5 April, first 01:45 (+11:00); the second is at 15:15 UTC
			utc(time.April, 5, 15, 15), // 6 April 01:45 +10:30
		},
		robfigGot: 4,
	}, {
		name:     "UTC has no transitions",
		schedule: "0 2 * * *", tz: "UTC",
		from: utc(time.March, 28, 0, 0), to: utc(time.March, 30, 0, 0),
		want:      []time.Time{utc(time.March, 28, 2, 0), utc(time.March, 29, 2, 0)},
		robfigGot: 2,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ProjectSchedule(project(tc.schedule, tc.tz))
			require.NoError(t, err)
			assert.Equal(t, tc.want, fires(t, s, tc.from, tc.to))

			robfig, err := config.ParseSchedule(tc.schedule, tc.tz)
			require.NoError(t, err)
			var n int
			for at := robfig.Next(tc.from); !at.After(tc.to); at = robfig.Next(at) {
				n++
			}
			assert.Equal(t, tc.robfigGot, n, "robfig/cron's own count")
		})
	}
}

func TestScheduleNextFromInsideRepeatedHour(t *testing.T) {
	t.Parallel()
	s, err := ProjectSchedule(project("30 2 * * *", "Europe/Amsterdam"))
	require.NoError(t, err)
	// 02:10 CET, the second pass: today's 02:30 already fired in the first pass.
	assert.Equal(t, utc(time.October, 26, 1, 30), s.Next(utc(time.October, 25, 1, 10)))
	// From the fire time itself, the next is strictly later.
	assert.Equal(t, utc(time.October, 25, 0, 30), s.Next(utc(time.October, 24, 0, 30)))
	// Sub-second inputs (River passes real clock times) land on the same ticks.
	assert.Equal(t, utc(time.October, 25, 0, 30), s.Next(utc(time.October, 24, 0, 30).Add(time.Millisecond)))
}

func TestScheduleNeverMatching(t *testing.T) {
	t.Parallel()
	s, err := ProjectSchedule(project("0 0 30 2 *", "Europe/Amsterdam"))
	require.NoError(t, err)
	assert.True(t, s.Next(utc(time.January, 1, 0, 0)).IsZero())
}

func TestProjectScheduleErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []*config.Project{
		{Name: "none"},
		{Name: "bad-cron", Schedule: "61 * * * *", Timezone: "UTC"},
		{Name: "bad-zone", Schedule: "0 2 * * *", Timezone: "Mars/Olympus"},
		{Name: "tz-in-spec", Schedule: "CRON_TZ=UTC 0 2 * * *", Timezone: "UTC"},
	} {
		_, err := ProjectSchedule(p)
		assert.ErrorContains(t, err, p.Name)
	}
}

func TestNext(t *testing.T) {
	t.Parallel()
	got, err := nextAfter(project("0 6 * * 1-5", "Europe/Amsterdam"), utc(time.November, 27, 12, 0), 3)
	require.NoError(t, err)
	// Friday 27 November 2026 12:00 UTC → Monday to Wednesday 06:00 CET.
	assert.Equal(t, []time.Time{utc(time.November, 30, 5, 0), utc(time.December, 1, 5, 0), utc(time.December, 2, 5, 0)}, got)

	got, err = nextAfter(project("", "UTC"), utc(time.November, 27, 12, 0), 3)
	require.NoError(t, err)
	assert.Empty(t, got)

	got, err = nextAfter(project("0 0 30 2 *", "UTC"), utc(time.November, 27, 12, 0), 3)
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = Next(project("61 * * * *", "UTC"), 1)
	require.Error(t, err)

	got, err = Next(project("* * * * *", ""), 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.True(t, got[0].After(time.Now().Add(-time.Second)))
	assert.Equal(t, time.Minute, got[1].Sub(got[0]))
}

func TestPeriodicJobs(t *testing.T) {
	t.Parallel()
	jobs, err := PeriodicJobs([]*config.Project{
		{Name: "nightly", Schedule: "0 2 * * *", Timezone: "Europe/Amsterdam"},
		{Name: "on-demand"},
		{Name: "hourly", Schedule: "0 * * * *", Timezone: "UTC"},
	})
	require.NoError(t, err)
	assert.Len(t, jobs, 2)

	_, err = PeriodicJobs([]*config.Project{{Name: "broken", Schedule: "0 25 * * *", Timezone: "UTC"}})
	assert.ErrorContains(t, err, `project "broken"`)
}

func TestDiscoverArgsInsertOpts(t *testing.T) {
	t.Parallel()
	scheduled := DiscoverArgs{Project: "p", Trigger: TriggerSchedule, FireTime: utc(time.March, 1, 2, 0)}.InsertOpts()
	assert.Equal(t, Queue, scheduled.Queue)
	assert.True(t, scheduled.UniqueOpts.ByArgs)
	assert.Contains(t, scheduled.UniqueOpts.ByState, rivertype.JobStateCompleted)

	runNow := DiscoverArgs{Project: "p", Trigger: TriggerRunNow}.InsertOpts()
	assert.Equal(t, Queue, runNow.Queue)
	assert.Zero(t, runNow.UniqueOpts)
}
