// Package scheduler turns each project's cron schedule into River periodic jobs that insert
// discover jobs, keeps whether a project is paused, and inserts run-now discovers. It runs
// no stage itself.
//
// How the pieces fit in `pipeline serve` (the worker package owns the River client):
//
//	config.Load
//	  → scheduler.PeriodicJobs(cfg.Projects)         one per scheduled project, on every node
//	  → river.Client{PeriodicJobs, Queues: {scheduler.Queue: …}, Workers: discover worker, …}
//	      the elected leader inserts DiscoverArgs{Trigger: "schedule", FireTime: tick}
//	      at each tick; a new leader also fires the latest tick of the last
//	      CatchUpWindow (the old leader may have died at it); the unique key
//	      (project, fire time) makes each tick one job across the cluster
//	  → discover worker (any node)
//	      → scheduler.ShouldRun(ctx, store, args)   false: complete the job, log the reason
//	      → list the source, start a job per new file (ingest, jobhistory)
//
//	console / CLI "run now"  → scheduler.RunNow(ctx, client, project)
//	console / CLI pause      → Store.Pause / Store.Resume / Store.List
//	console "next runs"      → scheduler.Next(project, n)
//
// Pausing does not remove a project's periodic job: ticks of a paused project are still
// inserted, and the worker skips them through ShouldRun. So a pause recorded on one node
// takes effect on all of them at once, and resuming needs no restart. A run-now discover
// bypasses the pause.
//
// The unique key lasts as long as River keeps the finished job: the River client's
// completed, cancelled and discarded retention periods must stay longer than
// CatchUpWindow (River's defaults, 24 h, are).
//
// Schedules are wall-clock times in the project's time zone, with one fire per named time
// across daylight saving transitions (see Schedule).
package scheduler
