// Package jobstep holds what the import and the export stages share about running a
// step of a job: the runner's outcomes (snooze, drop), the job's timeline, which node
// runs a step, an environment's poll schedule, and failing a job. It knows job history
// only; each stage package keeps its own step kinds and says things in its own words.
package jobstep
