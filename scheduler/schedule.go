package scheduler

import (
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/dmfpipe/dmfpipe/config"
)

// Schedule is a project's cron schedule read as wall-clock times in its time zone. It is a
// river.PeriodicSchedule.
//
// Every wall-clock time the cron expression names fires once, whatever the daylight saving
// transitions do to it:
//   - a time the spring-forward gap skips (02:30 on the night clocks jump from 02:00 to
//     03:00) fires at the instant the clocks jump (03:00 new time), once;
//   - a time the fall-back repeats (02:30 on the night clocks go back from 03:00 to 02:00)
//     fires at its first occurrence only.
//
// So a frequent schedule (every 30 minutes) does not fire in the repeated hour's second
// pass. robfig/cron on its own does neither: it skips a gap time entirely (a daily 02:30 job
// does not run that day) and fires a repeated time twice.
type Schedule struct {
	// wall is the cron expression evaluated in UTC, which has no transitions: its ticks are
	// wall-clock times, mapped into loc by at.
	wall cron.Schedule
	loc  *time.Location
}

// ProjectSchedule parses the project's schedule in its time zone; an empty schedule is an
// error (such a project runs only on demand).
func ProjectSchedule(p *config.Project) (*Schedule, error) {
	if p.Schedule == "" {
		return nil, fmt.Errorf("project %q has no schedule", p.Name)
	}
	tz := p.Timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("project %q: unknown time zone %q", p.Name, tz)
	}
	wall, err := config.ParseSchedule(p.Schedule, "UTC")
	if err != nil {
		return nil, fmt.Errorf("project %q: %w", p.Name, err)
	}
	return &Schedule{wall: wall, loc: loc}, nil
}

// Next returns the first fire time after t, in UTC, or the zero time when the expression
// never matches (such as "0 0 30 2 *").
func (s *Schedule) Next(t time.Time) time.Time {
	n := wallClock(t.In(s.loc))
	for {
		n = s.wall.Next(n)
		if n.IsZero() {
			return time.Time{}
		}
		// Several wall times can map to one instant (all of a gap's), and a repeated time
		// maps before t when t is in the repeated hour's second pass.
		if fire := s.at(n); fire.After(t) {
			return fire.UTC()
		}
	}
}

// at maps the wall-clock time w (carried in UTC) to the instant it fires in s.loc.
func (s *Schedule) at(w time.Time) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, s.loc)
	start, _ := t.ZoneBounds()
	if !wallClock(t).Equal(w) {
		// w is in a spring-forward gap and time.Date normalised it past the gap: fire as
		// the clocks jump, at the start of the new offset.
		return start
	}
	if start.IsZero() {
		return t
	}
	// time.Date resolves a repeated time to either occurrence; take the first, which lies
	// in the previous offset, before start.
	_, before := start.Add(-time.Nanosecond).Zone()
	_, after := t.Zone()
	if back := time.Duration(before-after) * time.Second; back > 0 {
		if first := t.Add(-back); first.Before(start) && wallClock(first).Equal(w) {
			return first
		}
	}
	return t
}

// wallClock returns t's wall-clock reading in its own location, as a UTC time.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// Next returns the project's next n fire times from now, in UTC, for display. A project
// without a schedule has none.
func Next(p *config.Project, n int) ([]time.Time, error) {
	return nextAfter(p, time.Now(), n)
}

func nextAfter(p *config.Project, from time.Time, n int) ([]time.Time, error) {
	if p.Schedule == "" {
		return nil, nil
	}
	s, err := ProjectSchedule(p)
	if err != nil {
		return nil, err
	}
	var times []time.Time
	for t := from; len(times) < n; {
		if t = s.Next(t); t.IsZero() {
			break
		}
		times = append(times, t)
	}
	return times, nil
}

// CatchUpWindow is how late a tick may still fire: a node that becomes leader fires the
// latest tick of the last CatchUpWindow that it did not see (the old leader crashed at the
// tick, or the whole cluster was restarting). A tick the old leader did insert is not
// inserted again (DiscoverArgs is unique by project and fire time), as long as River keeps
// finished jobs longer than this window (Config.CompletedJobRetentionPeriod and its
// cancelled and discarded siblings; 24 h by default).
const CatchUpWindow = 10 * time.Minute

// PeriodicJobs returns one River periodic job per project with a schedule, with ID
// "discover:<project>"; each inserts a scheduled DiscoverArgs at every tick.
//
// Every node passes the same jobs to its River client (River runs periodic jobs on the
// elected leader only, from memory, so a new leader must know them too), and calls
// PeriodicJobs for its own client: a job remembers the tick River is firing, so it must not
// be shared between clients. When a node becomes leader it fires the latest tick of the
// last CatchUpWindow (usually already inserted by the old leader, and then skipped as a
// duplicate), and then each tick as it comes.
//
// Paused projects get their ticks too; the discover worker skips them (see ShouldRun), so
// that pausing takes effect at once on every node without re-registering anything.
func PeriodicJobs(projects []*config.Project) ([]*river.PeriodicJob, error) {
	var jobs []*river.PeriodicJob
	for _, p := range projects {
		if p.Schedule == "" {
			continue
		}
		j, err := PeriodicJob(p)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// PeriodicJob is the periodic job of one scheduled project (see PeriodicJobs), with ID
// PeriodicJobID(p.Name). Only p's name, schedule and time zone are read: a node adds the
// periodic jobs of projects that other nodes know and its own configuration lacks, from
// what they register (their leader may be this node).
func PeriodicJob(p *config.Project) (*river.PeriodicJob, error) {
	s, err := ProjectSchedule(p)
	if err != nil {
		return nil, err
	}
	return periodicJob(p.Name, s), nil
}

// PeriodicJobID is the ID of a project's periodic job.
func PeriodicJobID(project string) string { return "discover:" + project }

// periodicJob fires scheduled discovers for project on schedule, which must only return
// whole-second ticks that every node computes alike.
func periodicJob(project string, schedule river.PeriodicSchedule) *river.PeriodicJob {
	ticks := &tickingSchedule{schedule: schedule}
	return river.NewPeriodicJob(ticks, func() (river.JobArgs, *river.InsertOpts) {
		fire := ticks.firing()
		if fire.IsZero() {
			return nil, nil
		}
		return DiscoverArgs{Project: project, Trigger: TriggerSchedule, FireTime: fire.UTC()}, nil
	}, &river.PeriodicJobOpts{ID: PeriodicJobID(project), RunOnStart: true})
}

// tickingSchedule tells the constructor which tick River is firing. River's periodic
// enqueuer, when it starts on a new leader, asks for the first tick after now and then
// calls the constructor at once (RunOnStart); afterwards, when a tick is due, it calls the
// constructor and only then asks for the tick after the one it fired. So:
//   - a Next whose argument is not the tick last returned is a start: the constructor call
//     that follows fires the catch-up tick, if there is one;
//   - otherwise the constructor fires the tick last returned.
//
// TestClusterFiresEachTickOnce checks the second case against the scheduled_at River gives
// the job (the tick it fired), and TestLeaderCatchesUpMissedTick the first.
type tickingSchedule struct {
	schedule river.PeriodicSchedule

	mu       sync.Mutex
	next     time.Time // the tick last returned by Next
	starting bool      // Next was called from a start; the coming constructor call is RunOnStart's
	catchUp  time.Time // the tick RunOnStart fires; zero for none
}

func (s *tickingSchedule) Next(t time.Time) time.Time {
	n := s.schedule.Next(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next.IsZero() || !t.Equal(s.next) {
		s.starting = true
		s.catchUp = latestTick(s.schedule, t.Add(-CatchUpWindow), t)
	}
	s.next = n
	return n
}

func (s *tickingSchedule) firing() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.starting {
		s.starting = false
		return s.catchUp
	}
	return s.next
}

// latestTick returns the last tick of schedule in (from, to], or the zero time.
func latestTick(schedule river.PeriodicSchedule, from, to time.Time) time.Time {
	var last time.Time
	for at := schedule.Next(from); !at.IsZero() && !at.After(to); at = schedule.Next(at) {
		last = at
	}
	return last
}
